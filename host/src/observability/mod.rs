//! What an operator sees of a running host beyond the access log (docs/OPERATIONS.md):
//!
//! - `request_id`: one id per request, in the access log and in the guest's `x-request-id`;
//! - `metrics`: Prometheus metrics, served on their own listener (`metrics_server`) when
//!   `--metrics-listen` is set;
//! - `health`: `/livez` and `/readyz`, answered by the host before routing;
//! - `trace`: W3C trace context passed on to outbound requests, and OTLP spans.

pub mod health;
pub mod metrics;
pub mod metrics_server;
pub mod request_id;
pub mod trace;

use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind};

use crate::capabilities::BackendUnavailable;
use metrics::{Backend, StorageOp, StorageOutcome};

/// Runs one storage call a guest made, timing it for the metrics and as a span of `trace` when
/// those are on. Every storage interface answers in this shape: the backend's own answer (which
/// may be an error the guest handles), or unavailable.
pub async fn observe_storage<T, E>(
    backend: Backend,
    op: StorageOp,
    trace: Option<&trace::RequestTrace>,
    call: impl Future<Output = Result<Result<T, E>, BackendUnavailable>>,
) -> Result<Result<T, E>, BackendUnavailable> {
    let span = trace.and_then(|t| t.child("storage", SpanKind::Client));
    let m = metrics::get();
    if m.is_none() && span.is_none() {
        return call.await;
    }
    let mut span = span;
    if let Some(s) = span.as_mut() {
        s.set_attribute(KeyValue::new("db.system.name", backend.system()));
        s.set_attribute(KeyValue::new("db.operation.name", op.label()));
    }
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(Ok(_)) => StorageOutcome::Ok,
        Ok(Err(_)) => StorageOutcome::Failed,
        Err(_) => StorageOutcome::Unavailable,
    };
    if let Some(m) = m {
        m.storage(backend, op, started.elapsed(), outcome);
    }
    trace::end(span, outcome != StorageOutcome::Ok);
    result
}
