//! The HTTP front: accept, route like Spin, run one fresh instance per request, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::Runtime;
use crate::front_door::connections::{ConnClock, QuotaGuard, Refusal, ThrottledLog, Watched};
use crate::front_door::{PeerKey, admission, authority};
use crate::instance::{EPOCH_TICK, HostState, LoadedComponent};
use crate::memory_budget::InstanceMemory;
use crate::router::RouteMatch;
use crate::storage::BackendUnavailable;

/// The thread that advances wasmtime's epoch every [`EPOCH_TICK`]: without it no deadline fires
/// and no guest yields, so it is owned, and the host refuses to start if it cannot run.
pub struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: wasmtime::Engine) -> Result<Self> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-epoch".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread (request deadlines depend on it)")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Largest request head (request line and headers) a connection may send: beyond it hyper
/// answers 431. Sized like common reverse proxies' header buffers, far above any real client's.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Accept failures (out of file descriptors) and refused connections repeat at line rate under
/// attack; each is logged at most once a second.
static ACCEPT_FAILURES: ThrottledLog = ThrottledLog::new();
static REFUSED_CONNECTIONS: ThrottledLog = ThrottledLog::new();

/// Serves until `shutdown` fires, then stops accepting (the listener is closed, so new
/// connections are refused), lets every request in progress finish and closes idle connections,
/// waiting at most `drain` for them (docs/OPERATIONS.md, "Stopping").
pub async fn serve(
    runtime: Arc<Runtime>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    drain: std::time::Duration,
) -> Result<()> {
    let local = listener.local_addr()?;
    let connections = TaskTracker::new();
    let draining = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Running out of file descriptors must not stop the server (nor flood its log).
                ACCEPT_FAILURES.hit(|more| {
                    tracing::warn!("accept failed: {e} ({more} more in the last second)")
                });
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match runtime.connections.try_take(PeerKey::of(peer)) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                refuse_connection(&stream, refusal);
                REFUSED_CONNECTIONS.hit(|more| {
                    tracing::warn!(
                        "refused a connection from {peer}: {} ({more} more in the last second)",
                        match refusal {
                            Refusal::HostFull => "the host's connection cap is reached",
                            Refusal::PeerFull => "the peer's connection cap is reached",
                        }
                    )
                });
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            runtime.clone(),
            stream,
            peer,
            local,
            admitted,
            draining.clone(),
        ));
    }
    drop(listener);
    connections.close();
    draining.cancel();
    tracing::info!(
        in_flight = connections.len(),
        "stopped accepting; draining connections"
    );
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            unfinished = connections.len(),
            "drain deadline passed; stopping with connections still open"
        );
    }
    Ok(())
}

/// Answers a connection over a cap with one JSON error, without reading from it, and closes it.
fn refuse_connection(stream: &TcpStream, refusal: Refusal) {
    let (status, code, message) = match refusal {
        Refusal::HostFull => (
            "503 Service Unavailable",
            "UNAVAILABLE",
            "the server has too many open connections; retry shortly",
        ),
        Refusal::PeerFull => (
            "429 Too Many Requests",
            "TOO_MANY_CONNECTIONS",
            "too many open connections from your address; close some and retry",
        ),
    };
    let body = serde_json::json!({ "message": message, "code": code }).to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Best effort and never waiting: a fresh socket's send buffer takes this at once.
    let _ = stream.try_write(response.as_bytes());
}

async fn connection(
    runtime: Arc<Runtime>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    admitted: QuotaGuard,
    draining: CancellationToken,
) {
    let clock = ConnClock::new();
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let limits = runtime.front_door.clone();
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |req| {
        let runtime = runtime.clone();
        let clock = service_clock.clone();
        async move {
            clock.request_started();
            let response = handle(&runtime, req, peer, local).await;
            clock.request_finished();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let serving = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(io, service);
    tokio::pin!(serving);
    let mut told_to_drain = false;
    loop {
        tokio::select! {
            served = serving.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                break;
            }
            () = clock.expired(limits.header_timeout, limits.idle_timeout) => {
                tracing::debug!("closed connection from {peer}: no request within the header or idle timeout");
                break;
            }
            // Finish the request in progress (its response says `connection: close`), then
            // close; an idle connection closes at once.
            () = draining.cancelled(), if !told_to_drain => {
                told_to_drain = true;
                serving.as_mut().graceful_shutdown();
            }
        }
    }
    drop(admitted);
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
    headers: &mut http::HeaderMap,
    m: &RouteMatch<'_>,
    full_url: &str,
    peer: SocketAddr,
) -> Result<(), http::header::InvalidHeaderValue> {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
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
            // As Spin's HTTP trigger names them: `:path_segment` → `spin-path-match-path-segment`.
            HeaderName::from_bytes(
                format!(
                    "spin-path-match-{}",
                    name.to_ascii_lowercase().replace('_', "-")
                )
                .as_bytes(),
            ),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    Ok(())
}

/// A refusal at the door: the connection is closed after it, since an unread body may follow.
fn door_refusal(status: StatusCode, code: &str, message: &str) -> Response<HyperOutgoingBody> {
    let mut r = json_error(status, code, message);
    r.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn slot_refusal(refusal: Refusal) -> Response<HyperOutgoingBody> {
    let mut r = match refusal {
        Refusal::HostFull => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the server is at capacity, retry shortly",
        ),
        Refusal::PeerFull => json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "too many requests from your address are running at once; retry when one finishes",
        ),
    };
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

async fn invoke(
    runtime: &Runtime,
    component: &Arc<LoadedComponent>,
    req: Request<Incoming>,
    m: &RouteMatch<'_>,
    peer: SocketAddr,
    local: SocketAddr,
    setup_ns: &Arc<AtomicU64>,
) -> Response<HyperOutgoingBody> {
    // The guest gets an absolute URI, as under Spin: scheme, the validated authority the client
    // used, and the routed request target exactly as received.
    let uri = match authority::guest_uri(req.uri(), req.headers(), local) {
        Ok(uri) => uri,
        Err(authority::InvalidAuthority(why)) => {
            return door_refusal(StatusCode::BAD_REQUEST, "BAD_REQUEST", why);
        }
    };
    let door = &runtime.front_door;
    let max_body = component
        .max_body_bytes
        .map_or(door.max_body_bytes, |m| m.min(door.max_body_bytes));
    let (mut parts, body) = req.into_parts();
    let admitted_body = match admission::check_declared_length(&parts.headers, max_body) {
        Ok(()) => admission::read_body(body, max_body, door.body_timeout).await,
        Err(rejected) => Err(rejected),
    };
    let body = match admitted_body {
        Ok(body) => body,
        Err(rejected) => {
            return door_refusal(rejected.status(), rejected.code(), &rejected.message());
        }
    };
    // Only a request whose body is in takes an instance slot.
    let slot = match runtime.instance_slots.try_take(PeerKey::of(peer)) {
        Ok(slot) => slot,
        Err(refusal) => return slot_refusal(refusal),
    };
    let full_url = uri.to_string();
    if set_spin_headers(&mut parts.headers, m, &full_url, peer).is_err() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "invalid request target",
        );
    }
    parts.uri = uri;
    let req = Request::from_parts(parts, Full::new(body));

    let limits = &runtime.limits;
    let setup_started = Instant::now();
    let mut store = Store::new(
        &runtime.engine,
        HostState::new(
            component.grants.clone(),
            InstanceMemory::new(limits.memory_limit_bytes, runtime.memory_budget.clone()),
        ),
    );
    store.limiter(|s| &mut s.memory);
    // Every epoch tick a running guest yields to the executor, so guests that compute for long
    // never starve the accept loop or other requests of the host's worker threads; once the
    // request's ticks are spent it is stopped with a trap that names the deadline.
    let budget = u64::try_from(limits.request_timeout.as_millis() / EPOCH_TICK.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut ticks_used = 0u64;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        ticks_used += 1;
        Ok(if ticks_used >= budget {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
        })
    });

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
        // Declared before the store, so dropped after it: the pooling allocator's slot is free
        // before the admission slot is given back.
        let _slot = slot;
        let mut store = store;
        let instantiate_started = Instant::now();
        let proxy = match pre.instantiate_async(&mut store).await {
            Ok(proxy) => proxy,
            Err(e) if store.data().memory.budget_exhausted => {
                return Err(Failure::MemoryBudget(e));
            }
            Err(e) => return Err(Failure::Instantiate(e)),
        };
        let ns = store_ns + instantiate_started.elapsed().as_nanos();
        setup_ns.store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Relaxed);
        match proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, guest_req, out)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if store.data().memory.budget_exhausted => Err(Failure::MemoryBudget(e)),
            Err(e) => Err(Failure::Guest(e)),
        }
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
    /// Admission already reserved the slot, so this is not about capacity.
    Instantiate(wasmtime::Error),
    /// The guest needed memory the host-wide budget could not cover.
    MemoryBudget(wasmtime::Error),
    Guest(wasmtime::Error),
    NoResponse,
}

impl Failure {
    fn response(self, component: &str) -> Response<HyperOutgoingBody> {
        match self {
            Failure::Instantiate(e) => {
                tracing::warn!(component, "cannot instantiate: {e:#}");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the component could not be started",
                )
            }
            Failure::MemoryBudget(e) => {
                tracing::warn!(component, "host memory budget exhausted: {e:#}");
                let mut r = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the server is short of memory for requests right now; retry shortly",
                );
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
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
