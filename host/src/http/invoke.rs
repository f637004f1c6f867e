//! One request: route like Spin, admit it at the front door, run one fresh instance, answer, and
//! log one access line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::front_door::admission::BodyRejection;
use super::front_door::connections::{QuotaGuard, Refusal};
use super::front_door::{PeerKey, admission, authority, head};
use super::router::RouteMatch;
use super::{json_error, retry_shortly};
use crate::app::Runtime;
use crate::capabilities::BackendUnavailable;
use crate::observability::metrics::{self, GuestFailure, RouteMetrics};
use crate::observability::trace::{self, RequestTrace};
use crate::observability::{health, request_id};
use crate::wasm::engine::EPOCH_TICK;
use crate::wasm::guest_output::GuestOutput;
use crate::wasm::instance::{HostState, LoadedComponent};
use crate::wasm::memory_budget::InstanceMemory;
use opentelemetry::trace::SpanKind;

pub async fn handle(
    runtime: &Runtime,
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<HyperOutgoingBody> {
    let start = Instant::now();
    let method = req.method().clone();
    // The path alone is logged: a query string may carry tokens.
    let path = req.uri().path().to_string();
    let request_id = request_id::of(req.headers());
    // An oversized head is refused before anything reads it further.
    if let Err(too_large) = head::check(req.uri(), req.headers()) {
        if let Some(m) = metrics::get() {
            m.refused(metrics::Refusal::HeadTooLarge);
        }
        let response = json_error(too_large.status(), too_large.code(), &too_large.message());
        log_access(&method, &path, None, &request_id, &response, start, 0);
        return response;
    }
    // The host's own endpoints come before routing (docs/OPERATIONS.md, "Health").
    if let Some(response) = health::answer(runtime, &method, &path).await {
        log_access(&method, &path, None, &request_id, &response, start, 0);
        return response;
    }
    let routed = runtime.router.route(&path);
    let observed = metrics::get().map(|m| m.route(routed.as_ref().map(|r| r.index)));
    let trace = RequestTrace::begin(req.headers(), &request_id);
    if let (Some(t), Some(m)) = (&trace, &routed) {
        t.routed(m.raw_route, m.component);
    }
    // Time spent creating the request's store and instance (0 if none was made).
    let setup_ns = Arc::new(AtomicU64::new(0));
    let response = match &routed {
        None => json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no route matches {path}"),
        ),
        Some(m) => match runtime.components.get(m.component) {
            Some(c) => {
                let request = Arrived {
                    req,
                    peer,
                    local,
                    request_id: request_id.clone(),
                    observed,
                    trace: trace.clone(),
                };
                invoke(runtime, c, request, m, &setup_ns).await
            }
            None => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            ),
        },
    };
    if let Some(o) = observed {
        o.answered(response.status().as_u16(), start.elapsed());
    }
    if let Some(t) = &trace {
        t.answered(&method, response.status().as_u16());
    }
    log_access(
        &method,
        &path,
        routed.as_ref(),
        &request_id,
        &response,
        start,
        setup_ns.load(Ordering::Relaxed),
    );
    response
}

/// The access log's one line per request: never bodies, query strings or headers (the request
/// id is the host's, or a client's that passed `request_id::acceptable`).
fn log_access(
    method: &http::Method,
    path: &str,
    routed: Option<&RouteMatch<'_>>,
    request_id: &HeaderValue,
    response: &Response<HyperOutgoingBody>,
    start: Instant,
    setup_ns: u64,
) {
    tracing::info!(
        target: "keyward::access",
        method = %method,
        path = %path,
        route = routed.map_or("-", |m| m.raw_route),
        component = routed.map_or("-", |m| m.component),
        status = response.status().as_u16(),
        duration_ms = (start.elapsed().as_secs_f64() * 1000.0),
        instantiate_us = (setup_ns as f64 / 1000.0),
        request_id = request_id.to_str().unwrap_or("-"),
        "request"
    );
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
    match refusal {
        Refusal::HostFull => unavailable("the server is at capacity, retry shortly"),
        Refusal::PeerFull => retry_shortly(json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "too many requests from your address are running at once; retry when one finishes",
        )),
    }
}

/// A routed request as it came in, with what the host decided about it before admission.
struct Arrived {
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    request_id: HeaderValue,
    /// Its route's metrics, when metrics are on.
    observed: Option<&'static RouteMetrics>,
    trace: Option<Arc<RequestTrace>>,
}

/// A request the front door let in: its body read, its URI and `spin-*` headers set, and an
/// instance slot held for it.
struct Admitted {
    req: Request<Full<Bytes>>,
    slot: QuotaGuard,
    observed: Option<&'static RouteMetrics>,
    trace: Option<Arc<RequestTrace>>,
}

async fn invoke(
    runtime: &Runtime,
    component: &Arc<LoadedComponent>,
    request: Arrived,
    m: &RouteMatch<'_>,
    setup_ns: &Arc<AtomicU64>,
) -> Response<HyperOutgoingBody> {
    match admit(runtime, component, request, m).await {
        Ok(admitted) => run(runtime, component, admitted, setup_ns).await,
        Err((refused, why)) => {
            if let Some(metrics) = metrics::get() {
                metrics.refused(why);
            }
            refused
        }
    }
}

type Refused = (Response<HyperOutgoingBody>, metrics::Refusal);

/// The front door's decisions, in order: a valid authority, a body within the route's maximum
/// that arrives in time, then (only then) an instance slot within the peer's share.
async fn admit(
    runtime: &Runtime,
    component: &LoadedComponent,
    request: Arrived,
    m: &RouteMatch<'_>,
) -> Result<Admitted, Refused> {
    let Arrived {
        req,
        peer,
        local,
        request_id,
        observed,
        trace,
    } = request;
    // The guest gets an absolute URI, as under Spin: scheme, the validated authority the client
    // used, and the routed request target exactly as received.
    let uri = authority::guest_uri(req.uri(), req.headers(), local).map_err(
        |authority::InvalidAuthority(why)| {
            (
                door_refusal(StatusCode::BAD_REQUEST, "BAD_REQUEST", why),
                metrics::Refusal::BadRequest,
            )
        },
    )?;
    let door = &runtime.front_door;
    let max_body = component
        .max_body_bytes
        .map_or(door.max_body_bytes, |m| m.min(door.max_body_bytes));
    let (mut parts, body) = req.into_parts();
    let body = match admission::check_declared_length(&parts.headers, max_body) {
        Ok(()) => admission::read_body(body, max_body, door.body_timeout).await,
        Err(rejected) => Err(rejected),
    }
    .map_err(|rejected| {
        let why = match rejected {
            BodyRejection::TooLarge { .. } => metrics::Refusal::BodyTooLarge,
            BodyRejection::TooSlow { .. } => metrics::Refusal::BodyTimeout,
            BodyRejection::Malformed => metrics::Refusal::BodyMalformed,
        };
        (
            door_refusal(rejected.status(), rejected.code(), &rejected.message()),
            why,
        )
    })?;
    let slot = runtime
        .instance_slots
        .try_take(PeerKey::of(peer))
        .map_err(|refusal| {
            let why = match refusal {
                Refusal::HostFull => metrics::Refusal::InstanceCap,
                Refusal::PeerFull => metrics::Refusal::InstanceCapPerPeer,
            };
            (slot_refusal(refusal), why)
        })?;
    let full_url = uri.to_string();
    set_spin_headers(&mut parts.headers, m, &full_url, peer).map_err(|_| {
        (
            json_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "invalid request target",
            ),
            metrics::Refusal::BadRequest,
        )
    })?;
    // The guest reads the request's id here; whatever the client sent under this name was
    // either kept as the id or replaced by it.
    parts.headers.insert(request_id::HEADER, request_id);
    parts.uri = uri;
    Ok(Admitted {
        req: Request::from_parts(parts, Full::new(body)),
        slot,
        observed,
        trace,
    })
}

/// A store for one request: the component's grants, the instance memory cap within the
/// host-wide budget, and the deadline.
fn new_store(
    runtime: &Runtime,
    component: &LoadedComponent,
    trace: Option<Arc<RequestTrace>>,
) -> Store<HostState> {
    let limits = &runtime.limits;
    let mut store = Store::new(
        &runtime.engine,
        HostState::new(
            component.grants.clone(),
            InstanceMemory::new(limits.memory_limit_bytes, runtime.memory_budget.clone()),
            GuestOutput::new(&component.id),
            trace,
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
    store
}

/// Runs the admitted request in a fresh instance and answers with what the guest set, or with
/// the host's own error when it set nothing in time.
async fn run(
    runtime: &Runtime,
    component: &Arc<LoadedComponent>,
    admitted: Admitted,
    setup_ns: &Arc<AtomicU64>,
) -> Response<HyperOutgoingBody> {
    let Admitted {
        req,
        slot,
        observed,
        trace,
    } = admitted;
    let failed = |why: GuestFailure| {
        if let Some(o) = observed {
            o.component.failed(why);
        }
    };
    let setup_started = Instant::now();
    let instantiate_span = trace
        .as_ref()
        .and_then(|t| t.child("instantiate", SpanKind::Internal));
    let mut store = new_store(runtime, component, trace);
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
        let instantiated = pre.instantiate_async(&mut store).await;
        trace::end(instantiate_span, instantiated.is_err());
        let proxy = match instantiated {
            Ok(proxy) => proxy,
            Err(e) => return Err(Failure::of_instantiation(e, store.data())),
        };
        let ns =
            u64::try_from(store_ns + instantiate_started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        setup_ns.store(ns, Ordering::Relaxed);
        if let Some(o) = observed {
            o.component
                .instantiated(std::time::Duration::from_nanos(ns));
        }
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, guest_req, out)
            .await
            .map_err(|e| Failure::of_guest(e, store.data()))
    });

    // The epoch deadline stops a guest that computes too long; this timeout also covers a guest
    // waiting on I/O. A little slack lets the trap, which names the cause, win the race.
    let deadline = runtime.limits.request_timeout + EPOCH_TICK * 5;
    match tokio::time::timeout(deadline, receiver).await {
        Ok(Ok(Ok(resp))) => resp,
        Ok(Ok(Err(code))) => {
            failed(GuestFailure::ErrorCode);
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
            failed(outcome.reason());
            outcome.response(&component.id)
        }
        Err(_) => {
            task.abort();
            failed(GuestFailure::Timeout);
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
    /// The guest failed after its memory could not grow past the instance's cap.
    MemoryLimit(wasmtime::Error),
    Guest(wasmtime::Error),
    NoResponse,
}

impl Failure {
    fn of_instantiation(e: wasmtime::Error, state: &HostState) -> Self {
        if state.memory.budget_exhausted {
            Failure::MemoryBudget(e)
        } else {
            Failure::Instantiate(e)
        }
    }

    fn of_guest(e: wasmtime::Error, state: &HostState) -> Self {
        if state.memory.budget_exhausted {
            Failure::MemoryBudget(e)
        } else if state.memory.limit_reached && e.downcast_ref::<Trap>().is_some() {
            Failure::MemoryLimit(e)
        } else {
            Failure::Guest(e)
        }
    }

    /// What the metrics count it as.
    fn reason(&self) -> GuestFailure {
        match self {
            Failure::Instantiate(_) => GuestFailure::Instantiation,
            Failure::MemoryBudget(_) => GuestFailure::MemoryBudget,
            Failure::MemoryLimit(_) => GuestFailure::MemoryLimit,
            Failure::Guest(e) if e.downcast_ref::<BackendUnavailable>().is_some() => {
                GuestFailure::BackendUnavailable
            }
            Failure::Guest(e) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                GuestFailure::Timeout
            }
            Failure::Guest(_) => GuestFailure::Trap,
            Failure::NoResponse => GuestFailure::NoResponse,
        }
    }

    fn response(self, component: &str) -> Response<HyperOutgoingBody> {
        match self {
            Failure::Instantiate(e) => {
                tracing::warn!(component, "cannot instantiate: {e:#}");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INSTANTIATION_FAILED",
                    "the component could not be started",
                )
            }
            Failure::MemoryBudget(e) => {
                tracing::warn!(component, "host memory budget exhausted: {e:#}");
                unavailable("the server is short of memory for requests right now; retry shortly")
            }
            Failure::Guest(e) if e.downcast_ref::<BackendUnavailable>().is_some() => {
                tracing::warn!(component, "{e:#}");
                unavailable("a storage backend is unavailable; retry shortly")
            }
            Failure::Guest(e) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                tracing::warn!(component, "request deadline exceeded");
                deadline_response()
            }
            Failure::MemoryLimit(e) => {
                tracing::warn!(component, "guest failed at its memory limit: {e:#}");
                component_failed()
            }
            Failure::Guest(e) => {
                tracing::warn!(component, "guest trapped: {e:#}");
                component_failed()
            }
            Failure::NoResponse => {
                tracing::warn!(component, "guest returned without setting a response");
                component_failed()
            }
        }
    }
}

/// 503 for a shortage that passes: the client may retry the same request shortly.
fn unavailable(message: &str) -> Response<HyperOutgoingBody> {
    retry_shortly(json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        message,
    ))
}

/// 500 for a component that trapped or returned without a response: nothing the client can fix,
/// and nothing of the guest's failure is shown to it.
fn component_failed() -> Response<HyperOutgoingBody> {
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "the component failed",
    )
}

fn deadline_response() -> Response<HyperOutgoingBody> {
    json_error(
        StatusCode::GATEWAY_TIMEOUT,
        "TIMEOUT",
        "the request took too long and was stopped",
    )
}
