//! What an operator sees of a running host beyond the access log (docs/OPERATIONS.md):
//!
//! - `request_id`: one id per request, in the access log and in the guest's `x-request-id`;
//! - `metrics`: Prometheus metrics, served on their own listener (`metrics_server`) when
//!   `--metrics-listen` is set;
//! - `health`: `/livez` and `/readyz`, answered by the host before routing.

pub mod health;
pub mod metrics;
pub mod metrics_server;
pub mod request_id;

use std::time::Instant;

use crate::capabilities::BackendUnavailable;
use metrics::{Backend, StorageOp, StorageOutcome};

/// Runs one storage call a guest made, timing it for the metrics when they are on. Every
/// storage interface answers in this shape: the backend's own answer (which may be an error the
/// guest handles), or unavailable.
pub async fn observe_storage<T, E>(
    backend: Backend,
    op: StorageOp,
    call: impl Future<Output = Result<Result<T, E>, BackendUnavailable>>,
) -> Result<Result<T, E>, BackendUnavailable> {
    let Some(m) = metrics::get() else {
        return call.await;
    };
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(Ok(_)) => StorageOutcome::Ok,
        Ok(Err(_)) => StorageOutcome::Failed,
        Err(_) => StorageOutcome::Unavailable,
    };
    m.storage(backend, op, started.elapsed(), outcome);
    result
}
