//! The HTTP front: accept, route like Spin, run one fresh instance per request, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime::{Store, Trap};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::Runtime;
use crate::instance::{EPOCH_TICK, HostState, LoadedComponent};
use crate::router::RouteMatch;
use crate::storage::BackendUnavailable;

/// Starts the epoch ticker that turns the per-request deadline into a trap inside the guest.
pub fn start_epoch_ticker(engine: wasmtime::Engine) {
    std::thread::Builder::new()
        .name("keyward-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .ok();
}

pub async fn serve(runtime: Arc<Runtime>, listener: TcpListener) -> Result<()> {
    let local = listener.local_addr()?;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Running out of file descriptors must not stop the server.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let runtime = runtime.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(&runtime, req, peer, local).await)
                }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

async fn handle(
    runtime: &Runtime,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<HyperOutgoingBody> {
    let start = Instant::now();
    let method = req.method().clone();
    // The path alone is logged: a query string may carry tokens.
    let path = req.uri().path().to_string();
    let routed = runtime.router.route(&path);
    // Time spent creating the request's store and instance (0 if none was made).
    let setup_ns = Arc::new(AtomicU64::new(0));
    let (response, route, component) = match &routed {
        None => (
            json_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("no route matches {path}"),
            ),
            None,
            None,
        ),
        Some(m) => {
            let response = match runtime.components.get(m.component) {
                Some(c) => invoke(runtime, c, req, m, peer, local, &setup_ns).await,
                None => json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error",
                ),
            };
            (response, Some(m.raw_route), Some(m.component))
        }
    };
    tracing::info!(
        target: "keyward::access",
        method = %method,
        path = %path,
        route = route.unwrap_or("-"),
        component = component.unwrap_or("-"),
        status = response.status().as_u16(),
        duration_ms = (start.elapsed().as_secs_f64() * 1000.0),
        instantiate_us = (setup_ns.load(Ordering::Relaxed) as f64 / 1000.0),
        "request"
    );
    response
}

/// Sets the headers a Spin guest expects, overwriting any a client sent: `spin-*` headers are
/// the platform's word (notably `spin-client-addr`, used for IP allow-lists) and must not be
/// forgeable.
fn set_spin_headers(
    req: &mut Request<Incoming>,
    m: &RouteMatch<'_>,
    full_url: &str,
    peer: SocketAddr,
) -> Result<(), http::header::InvalidHeaderValue> {
    let forged: Vec<HeaderName> = req
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    let headers = req.headers_mut();
    for name in forged {
        headers.remove(name);
    }
    let mut set =
        |name: &'static str, value: &str| -> Result<(), http::header::InvalidHeaderValue> {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value)?);
            Ok(())
        };
    set("spin-full-url", full_url)?;
    set("spin-path-info", &m.path_info)?;
    set("spin-matched-route", m.raw_route)?;
    set("spin-raw-component-route", m.raw_route)?;
    set("spin-component-route", &m.component_route)?;
    set("spin-base-path", "/")?;
    set("spin-client-addr", &peer.to_string())?;
    for (name, value) in &m.params {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(
                format!("spin-path-match-{}", name.to_ascii_lowercase()).as_bytes(),
            ),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    Ok(())
}

async fn invoke(
    runtime: &Runtime,
    component: &Arc<LoadedComponent>,
    mut req: Request<Incoming>,
    m: &RouteMatch<'_>,
    peer: SocketAddr,
    local: SocketAddr,
    setup_ns: &Arc<AtomicU64>,
) -> Response<HyperOutgoingBody> {
    // The guest gets an absolute URI, as under Spin: scheme, the Host the client used, and the
    // origin-form target exactly as received.
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| local.to_string());
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("http://{host}{target}");
    let Ok(uri) = full_url.parse::<http::Uri>() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "invalid Host header or request target",
        );
    };
    if set_spin_headers(&mut req, m, &full_url, peer).is_err() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "invalid request target",
        );
    }
    *req.uri_mut() = uri;

    let limits = &runtime.limits;
    let setup_started = Instant::now();
    let mut store = Store::new(
        &runtime.engine,
        HostState::new(component.grants.clone(), limits.memory_limit_bytes),
    );
    store.limiter(|s| &mut s.limits);
    let ticks = (limits.request_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_trap();

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let prepared = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .and_then(|r| Ok((r, store.data_mut().http().new_response_outparam(sender)?)));
    let (guest_req, out) = match prepared {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(component = %component.id, "cannot pass request to guest: {e:#}");
            return json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "malformed request");
        }
    };

    let store_ns = setup_started.elapsed().as_nanos();
    let pre = component.pre.clone();
    let setup_ns = setup_ns.clone();
    let task = tokio::spawn(async move {
        let instantiate_started = Instant::now();
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .map_err(Failure::Instantiate)?;
        let ns = store_ns + instantiate_started.elapsed().as_nanos();
        setup_ns.store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Relaxed);
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, guest_req, out)
            .await
            .map_err(Failure::Guest)
    });

    // The epoch deadline stops a guest that computes too long; this timeout also covers a guest
    // waiting on I/O. A little slack lets the trap, which names the cause, win the race.
    let deadline = limits.request_timeout + EPOCH_TICK * 5;
    match tokio::time::timeout(deadline, receiver).await {
        Ok(Ok(Ok(resp))) => resp,
        Ok(Ok(Err(code))) => {
            tracing::warn!(component = %component.id, "guest answered with error code {code:?}");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the component failed",
            )
        }
        Ok(Err(_)) => {
            // The guest never set a response: the task tells why.
            let outcome = match task.await {
                Ok(Ok(())) => Failure::NoResponse,
                Ok(Err(f)) => f,
                Err(e) => Failure::Guest(e.into()),
            };
            outcome.response(&component.id)
        }
        Err(_) => {
            task.abort();
            tracing::warn!(component = %component.id, "request deadline exceeded");
            deadline_response()
        }
    }
}

enum Failure {
    Instantiate(wasmtime::Error),
    Guest(wasmtime::Error),
    NoResponse,
}

impl Failure {
    fn response(self, component: &str) -> Response<HyperOutgoingBody> {
        match self {
            Failure::Instantiate(e) => {
                tracing::warn!(component, "cannot instantiate: {e:#}");
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the server is at capacity, retry shortly",
                )
            }
            Failure::Guest(e) if e.downcast_ref::<BackendUnavailable>().is_some() => {
                tracing::warn!(component, "{e:#}");
                let mut r = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "a storage backend is unavailable; retry shortly",
                );
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            Failure::Guest(e) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                tracing::warn!(component, "request deadline exceeded");
                deadline_response()
            }
            Failure::Guest(e) => {
                tracing::warn!(component, "guest trapped: {e:#}");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the component failed",
                )
            }
            Failure::NoResponse => {
                tracing::warn!(component, "guest returned without setting a response");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the component failed",
                )
            }
        }
    }
}

fn deadline_response() -> Response<HyperOutgoingBody> {
    json_error(
        StatusCode::GATEWAY_TIMEOUT,
        "TIMEOUT",
        "the request took too long and was stopped",
    )
}

pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "message": message, "code": code }).to_string();
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
