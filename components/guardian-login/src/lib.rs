//! guardian-login: `POST /guardian`, `POST /guardian/login` (guardian.md §4), the OpenAPI document
//! at `GET /guardian/openapi.json`, and `NOT_FOUND` for other `/guardian/...` paths.
//!
//! Grants: the `guardian` database (insert-only key creation, tokens), the `guardian` key-value
//! store (rate-limit counters, JWKS cache), `master_key` (seals new mnemonics; this component
//! never opens one), the IdP variables, and outbound HTTP to the identity-provider hosts only.
//!
//! Outbound calls are blocking wasi:http requests with per-call timeouts; the Okta push poll
//! sleeps on the wasi monotonic clock.

use guardian_service::{Env, OutError, OutRequest, OutResponse, Outbound};
use guest_kit::spin::{SpinDb, SpinKv, into_spin_response, read_request, variable};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types as http;

/// Largest identity-provider answer read (JWKS documents, Okta transactions).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

struct WasiOutbound;

fn other(msg: &str) -> OutError {
    OutError::Other(msg.to_owned())
}

impl Outbound for WasiOutbound {
    fn send(&self, req: &OutRequest) -> Result<OutResponse, OutError> {
        let url = guardian_service::url::Url::parse(&req.url).ok_or_else(|| other("bad url"))?;
        let mut entries: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        // A declared length instead of chunked framing: some IdP front ends (and simple test
        // servers) do not accept chunked request bodies.
        if !req.body.is_empty() {
            entries.push((
                "content-length".to_owned(),
                req.body.len().to_string().into_bytes(),
            ));
        }
        let headers = http::Fields::from_list(&entries).map_err(|_| other("bad header"))?;
        let out = http::OutgoingRequest::new(headers);
        let method = match req.method {
            "GET" => http::Method::Get,
            "POST" => http::Method::Post,
            m => http::Method::Other(m.to_owned()),
        };
        let scheme = if url.scheme == "https" {
            http::Scheme::Https
        } else {
            http::Scheme::Http
        };
        let authority = format!("{}:{}", url.host, url.port);
        let path = if url.rest.is_empty() {
            "/"
        } else {
            url.rest.as_str()
        };
        out.set_method(&method).map_err(|_| other("method"))?;
        out.set_scheme(Some(&scheme)).map_err(|_| other("scheme"))?;
        out.set_authority(Some(&authority))
            .map_err(|_| other("authority"))?;
        out.set_path_with_query(Some(path))
            .map_err(|_| other("path"))?;
        let body = out.body().map_err(|_| other("body"))?;
        let options = http::RequestOptions::new();
        let timeout_ns = req.timeout_ms.saturating_mul(1_000_000);
        let _ = options.set_connect_timeout(Some(timeout_ns));
        let _ = options.set_first_byte_timeout(Some(timeout_ns));
        let _ = options.set_between_bytes_timeout(Some(timeout_ns));
        let future = outgoing_handler::handle(out, Some(options)).map_err(|e| match e {
            http::ErrorCode::HttpRequestDenied => OutError::Denied,
            _ => other("request refused"),
        })?;
        if !req.body.is_empty() {
            let stream = body.write().map_err(|_| other("body stream"))?;
            for chunk in req.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|_| other("body write"))?;
            }
            drop(stream);
        }
        http::OutgoingBody::finish(body, None).map_err(|_| other("body finish"))?;
        let deadline = wasi::clocks::monotonic_clock::now().saturating_add(timeout_ns);
        let response = loop {
            if let Some(r) = future.get() {
                break r;
            }
            let ready = future.subscribe();
            let timer = wasi::clocks::monotonic_clock::subscribe_instant(deadline);
            let which = wasi::io::poll::poll(&[&ready, &timer]);
            if which.contains(&1) && !which.contains(&0) {
                return Err(OutError::Timeout);
            }
        };
        let response = response
            .map_err(|_| other("response"))?
            .map_err(|e| match e {
                http::ErrorCode::HttpRequestDenied => OutError::Denied,
                http::ErrorCode::ConnectionTimeout | http::ErrorCode::ConnectionReadTimeout => {
                    OutError::Timeout
                }
                _ => other("network error"),
            })?;
        let status = response.status();
        let incoming = response.consume().map_err(|_| other("response body"))?;
        let stream = incoming.stream().map_err(|_| other("response stream"))?;
        let mut bytes = Vec::new();
        loop {
            if wasi::clocks::monotonic_clock::now() > deadline {
                return Err(OutError::Timeout);
            }
            match stream.blocking_read(16 * 1024) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_RESPONSE_BYTES {
                        return Err(other("response too large"));
                    }
                }
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(_) => return Err(other("response read")),
            }
        }
        drop(stream);
        Ok(OutResponse {
            status,
            body: bytes,
        })
    }

    fn sleep_ms(&self, ms: u64) {
        wasi::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }

    fn monotonic_ms(&self) -> u64 {
        wasi::clocks::monotonic_clock::now() / 1_000_000
    }
}

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("guardian");
    let kv = SpinKv::new("guardian");
    let vars = |name: &str| variable(name);
    let outbound = WasiOutbound;
    let env = Env {
        db: &db,
        kv: Some(&kv),
        vars: &vars,
        now_ms: guest_kit::unix_now_ms(),
        outbound: Some(&outbound),
    };
    let request = read_request(req, guardian_service::body_read_limit(&env)).await;
    into_spin_response(guardian_service::handle_login(&env, request))
}
