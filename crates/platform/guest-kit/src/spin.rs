//! Adapters from the kit's traits and types to spin-sdk 5.2 (wasm only).
//!
//! Only what a component calls gets imported: a component that never touches
//! `SpinKv` or `variable` does not import those Spin interfaces.

use std::cell::OnceCell;

use futures::StreamExt;
use spin_sdk::http::IncomingRequest;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::Connection;

use crate::http::{Request, Response};
use crate::kv::{Kv, KvError};
use crate::sql::{Db, DbError, Rows, Value};

fn db_error(e: &spin_sdk::sqlite::Error) -> DbError {
    use spin_sdk::sqlite::Error as E;
    match e {
        E::NoSuchDatabase => DbError::NoSuchDatabase,
        E::AccessDenied => DbError::AccessDenied,
        E::InvalidConnection => DbError::InvalidConnection,
        E::DatabaseFull => DbError::DatabaseFull,
        E::Io(msg) => DbError::Io(msg.clone()),
    }
}

fn kv_error(e: &spin_sdk::key_value::Error) -> KvError {
    use spin_sdk::key_value::Error as E;
    match e {
        E::NoSuchStore => KvError::NoSuchStore,
        E::AccessDenied => KvError::AccessDenied,
        E::StoreTableFull => KvError::StoreTableFull,
        E::Other(msg) => KvError::Other(msg.clone()),
    }
}

/// A Spin resource a component reaches by label.
pub trait OpenByLabel: Sized {
    type Error: Clone;
    fn open(label: &str) -> Result<Self, Self::Error>;
}

impl OpenByLabel for Connection {
    type Error = DbError;
    fn open(label: &str) -> Result<Self, DbError> {
        Connection::open(label).map_err(|e| db_error(&e))
    }
}

impl OpenByLabel for Store {
    type Error = KvError;
    fn open(label: &str) -> Result<Self, KvError> {
        Store::open(label).map_err(|e| kv_error(&e))
    }
}

/// A resource opened on first use, so that requests that never touch storage (404, 405, 413,
/// ...) do not open it. A failed open is kept: every later call in the same request gets the
/// same error without asking the host again.
pub struct OpenOnce<T: OpenByLabel> {
    label: String,
    opened: OnceCell<Result<T, T::Error>>,
}

impl<T: OpenByLabel> OpenOnce<T> {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            opened: OnceCell::new(),
        }
    }

    fn opened(&self) -> Result<&T, T::Error> {
        self.opened
            .get_or_init(|| T::open(&self.label))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A Spin SQLite database, opened on first use.
pub type SpinDb = OpenOnce<Connection>;

fn to_spin(v: &Value) -> spin_sdk::sqlite::Value {
    use spin_sdk::sqlite::Value as S;
    match v {
        Value::Integer(i) => S::Integer(*i),
        Value::Real(r) => S::Real(*r),
        Value::Text(s) => S::Text(s.clone()),
        Value::Blob(b) => S::Blob(b.clone()),
        Value::Null => S::Null,
    }
}

fn from_spin(v: spin_sdk::sqlite::Value) -> Value {
    use spin_sdk::sqlite::Value as S;
    match v {
        S::Integer(i) => Value::Integer(i),
        S::Real(r) => Value::Real(r),
        S::Text(s) => Value::Text(s),
        S::Blob(b) => Value::Blob(b),
        S::Null => Value::Null,
    }
}

impl Db for SpinDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<_> = params.iter().map(to_spin).collect();
        let result = self
            .opened()?
            .execute(sql, &params)
            .map_err(|e| db_error(&e))?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|r| r.values.into_iter().map(from_spin).collect())
                .collect(),
        })
    }
}

/// A Spin key-value store, opened on first use.
pub type SpinKv = OpenOnce<Store>;

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.opened()?.get(key).map_err(|e| kv_error(&e))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.opened()?.set(key, value).map_err(|e| kv_error(&e))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.opened()?.delete(key).map_err(|e| kv_error(&e))
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.opened()?.exists(key).map_err(|e| kv_error(&e))
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        self.opened()?.get_keys().map_err(|e| kv_error(&e))
    }
}

/// A Spin variable; `None` when undefined for this component or unreadable
/// (callers treat both as "not configured").
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).ok()
}

/// Converts Spin's incoming request, reading at most `max_body + 1` body
/// bytes: enough for the service to see that the body is too large (413)
/// without buffering an unbounded upload.
pub async fn read_request(req: IncomingRequest, max_body: usize) -> Request {
    let method = req.method().to_string();
    // wasi:http gives the guest the origin-form target as received by the
    // listener; the scheme/authority are separate and not part of it.
    let path_and_query = req.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers = req.headers().entries();
    let cap = max_body.saturating_add(1);
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                let room = cap.saturating_sub(body.len());
                body.extend(bytes.into_iter().take(room));
                if body.len() >= cap {
                    break;
                }
            }
            // A broken upload: keep what arrived; the service's checks (size,
            // signature) decide, and a truncated body cannot authenticate.
            Err(_) => break,
        }
    }
    Request {
        method,
        path_and_query,
        headers,
        body,
    }
}

/// Serves one request with a route group: reads the body up to the group's limit, answers,
/// converts the answer. The entry point [`crate::component!`] writes.
pub async fn serve(
    group: &crate::RouteGroup,
    env: &crate::Env<'_>,
    req: IncomingRequest,
) -> spin_sdk::http::Response {
    let request = read_request(req, (group.body_limit)(env)).await;
    into_spin_response((group.handle)(env, request))
}

/// Converts the kit's response into Spin's.
pub fn into_spin_response(resp: Response) -> spin_sdk::http::Response {
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(resp.status);
    for (name, value) in &resp.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.body(resp.body);
    builder.build()
}

/// Outbound HTTP over `wasi:http/outgoing-handler`, blocking (the service
/// cores are synchronous). Only hosts in the component's
/// `allowed_outbound_hosts` are reachable; anything else is a
/// [`FetchError`](crate::http::FetchError). A request's `timeout_ms` bounds
/// each phase (connect, first byte, between bytes) and the whole exchange;
/// bodies are sent with a `Content-Length`, never chunked.
pub struct SpinFetch {
    /// Response bodies longer than this are an error.
    pub max_body: usize,
}

impl crate::http::Fetch for SpinFetch {
    fn fetch(
        &self,
        req: &crate::http::OutboundRequest,
    ) -> Result<crate::http::OutboundResponse, crate::http::FetchError> {
        outbound::send(req, self.max_body)
    }
}

mod outbound {
    use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
    use spin_sdk::wit::wasi::http0_2_0::types as wt;
    use wasi::clocks::monotonic_clock;

    use crate::http::{FetchError, OutboundRequest, OutboundResponse};

    fn err(what: &str) -> FetchError {
        FetchError(what.to_owned())
    }

    /// `scheme://authority/path?query` → parts; the path defaults to `/`.
    fn split_url(url: &str) -> Option<(wt::Scheme, &str, &str)> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
            (wt::Scheme::Https, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (wt::Scheme::Http, r)
        } else {
            return None;
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i)?, rest.get(i..)?),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return None;
        }
        Some((scheme, authority, path))
    }

    fn method(m: &str) -> wt::Method {
        match m {
            "GET" => wt::Method::Get,
            "POST" => wt::Method::Post,
            "PUT" => wt::Method::Put,
            "DELETE" => wt::Method::Delete,
            "HEAD" => wt::Method::Head,
            "PATCH" => wt::Method::Patch,
            "OPTIONS" => wt::Method::Options,
            other => wt::Method::Other(other.to_owned()),
        }
    }

    pub(super) fn send(
        req: &OutboundRequest,
        max_body: usize,
    ) -> Result<OutboundResponse, FetchError> {
        let out = outgoing_request(req)?;
        let body = out.body().map_err(|()| err("request body"))?;
        let future = outgoing_handler::handle(out, request_options(req.timeout_ms))
            .map_err(|e| err(refusal(&e)))?;
        write_body(body, &req.body)?;
        // The host's timeouts bound each phase; the deadline bounds the whole exchange, so a
        // peer that trickles bytes cannot hold the request past `timeout_ms`.
        let deadline = (req.timeout_ms > 0).then(|| {
            monotonic_clock::now().saturating_add(req.timeout_ms.saturating_mul(1_000_000))
        });
        let response = wait_for_response(&future, deadline)?;
        let status = response.status();
        let headers = response.headers().entries();
        let body = read_body(response, deadline, max_body)?;
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }

    /// The request line and headers, with a declared length.
    fn outgoing_request(req: &OutboundRequest) -> Result<wt::OutgoingRequest, FetchError> {
        let (scheme, authority, path) = split_url(&req.url).ok_or_else(|| err("invalid url"))?;
        let fields = wt::Fields::new();
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            fields
                .append(name, value.as_bytes())
                .map_err(|_| err("invalid header"))?;
        }
        // A declared length, so the body is not sent chunked (some servers and stubs do not
        // read chunked request bodies).
        if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
            fields
                .append("content-length", req.body.len().to_string().as_bytes())
                .map_err(|_| err("invalid header"))?;
        }
        let out = wt::OutgoingRequest::new(fields);
        out.set_method(&method(&req.method))
            .map_err(|()| err("invalid method"))?;
        out.set_scheme(Some(&scheme))
            .map_err(|()| err("invalid scheme"))?;
        out.set_authority(Some(authority))
            .map_err(|()| err("invalid authority"))?;
        out.set_path_with_query(Some(path))
            .map_err(|()| err("invalid path"))?;
        Ok(out)
    }

    /// `timeout_ms` (0: none) as the host's per-phase timeouts.
    fn request_options(timeout_ms: u64) -> Option<wt::RequestOptions> {
        if timeout_ms == 0 {
            return None;
        }
        let ns = timeout_ms.saturating_mul(1_000_000);
        let o = wt::RequestOptions::new();
        // A host may refuse some timeouts; it then applies its own.
        let _ = o.set_connect_timeout(Some(ns));
        let _ = o.set_first_byte_timeout(Some(ns));
        let _ = o.set_between_bytes_timeout(Some(ns));
        Some(o)
    }

    const DENIED: &str = "request denied by allowed_outbound_hosts";

    /// Why the host refused to start the exchange.
    fn refusal(e: &wt::ErrorCode) -> &'static str {
        match e {
            wt::ErrorCode::HttpRequestDenied => DENIED,
            _ => "request refused",
        }
    }

    /// Why the exchange brought no response.
    fn no_response(e: &wt::ErrorCode) -> &'static str {
        match e {
            wt::ErrorCode::ConnectionTimeout
            | wt::ErrorCode::ConnectionReadTimeout
            | wt::ErrorCode::ConnectionWriteTimeout => "timeout",
            wt::ErrorCode::HttpRequestDenied => DENIED,
            _ => "no response",
        }
    }

    fn write_body(body: wt::OutgoingBody, data: &[u8]) -> Result<(), FetchError> {
        {
            let stream = body.write().map_err(|()| err("request body"))?;
            for chunk in data.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|_| err("writing request body"))?;
            }
        }
        wt::OutgoingBody::finish(body, None).map_err(|_| err("finishing request body"))
    }

    /// Blocks until the response head arrives or `deadline` passes.
    fn wait_for_response(
        future: &wt::FutureIncomingResponse,
        deadline: Option<u64>,
    ) -> Result<wt::IncomingResponse, FetchError> {
        let response = loop {
            if let Some(r) = future.get() {
                break r;
            }
            let ready = future.subscribe();
            match deadline {
                Some(at) => {
                    let timer = monotonic_clock::subscribe_instant(at);
                    let which = wasi::io::poll::poll(&[&ready, &timer]);
                    if which.contains(&1) && !which.contains(&0) {
                        return Err(err("timeout"));
                    }
                }
                None => ready.block(),
            }
        };
        response
            .map_err(|()| err("response already taken"))?
            .map_err(|e| err(no_response(&e)))
    }

    /// The response body, refused once longer than `max_body` or past `deadline`.
    fn read_body(
        response: wt::IncomingResponse,
        deadline: Option<u64>,
        max_body: usize,
    ) -> Result<Vec<u8>, FetchError> {
        let incoming = response.consume().map_err(|()| err("response body"))?;
        let stream = incoming.stream().map_err(|()| err("response body"))?;
        let mut data = Vec::new();
        loop {
            if deadline.is_some_and(|at| monotonic_clock::now() > at) {
                return Err(err("timeout"));
            }
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    data.extend_from_slice(&chunk);
                    if data.len() > max_body {
                        return Err(err("response body too large"));
                    }
                }
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(_) => return Err(err("reading response body")),
            }
        }
        Ok(data)
    }
}
