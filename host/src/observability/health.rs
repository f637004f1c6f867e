//! The host's own health endpoints, answered before routing (docs/OPERATIONS.md, "Health"):
//!
//! - `GET /livez`: 200 while the process serves requests;
//! - `GET /readyz`: 200 when every storage backend a component of the manifest was granted
//!   answers (an embedded SQLite file `SELECT 1`, PostgreSQL `SELECT 1`, Redis `PING`), else
//!   503 naming the checks that failed.
//!
//! Both answer in the shape of shield's `/healthz`: `{"status","at","checks":[{"name","status"}]}`.
//! The endpoints are public (they are on the main listener, for load balancers and
//! orchestrators), so the body names checks only: why one failed goes to the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::Runtime;
use crate::capabilities::key_value::KvStore;
use crate::capabilities::sqlite::SqlDatabase;
use crate::http::front_door::connections::ThrottledLog;

pub const LIVEZ: &str = "/livez";
pub const READYZ: &str = "/readyz";

/// How long one backend may take to answer before it counts as unreachable: well within the
/// usual probe timeouts of load balancers and orchestrators.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness results are reused for this long, so any number of clients polling `/readyz`
/// costs the backends at most one round of checks per interval.
const REUSE_FOR: Duration = Duration::from_secs(1);

static FAILED_CHECKS: ThrottledLog = ThrottledLog::new();

/// The answer to a reserved path, or `None` when `path` is not one of them.
pub async fn answer(
    runtime: &Runtime,
    method: &Method,
    path: &str,
) -> Option<Response<HyperOutgoingBody>> {
    let ready = match path {
        LIVEZ => false,
        READYZ => true,
        _ => return None,
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = crate::http::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "use GET",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    let (healthy, checks) = if ready {
        readiness(runtime).await
    } else {
        (true, vec![("process".to_owned(), true)])
    };
    Some(health_response(healthy, &checks))
}

fn health_response(healthy: bool, checks: &[(String, bool)]) -> Response<HyperOutgoingBody> {
    let word = |ok: bool| if ok { "healthy" } else { "unhealthy" };
    let body = json!({
        "status": word(healthy),
        "at": rfc3339(SystemTime::now()),
        "checks": checks
            .iter()
            .map(|(name, ok)| json!({"name": name, "status": word(*ok)}))
            .collect::<Vec<_>>(),
    })
    .to_string();
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// One backend to check: named as its runtime-config section (`sqlite_database.<label>`,
/// `key_value_store.<label>`), which says where it is configured.
enum Probe {
    Sql(SqlDatabase),
    Kv(KvStore),
}

/// Every label any component was granted, once, sorted by name.
fn probes(runtime: &Runtime) -> Vec<(String, Probe)> {
    let mut out: std::collections::BTreeMap<String, Probe> = std::collections::BTreeMap::new();
    for component in runtime.components.values() {
        for (label, db) in component.grants.sqlite_databases.iter() {
            out.entry(format!("sqlite_database.{label}"))
                .or_insert_with(|| Probe::Sql(db.clone()));
        }
        for (label, store) in component.grants.key_value_stores.iter() {
            out.entry(format!("key_value_store.{label}"))
                .or_insert_with(|| Probe::Kv(store.clone()));
        }
    }
    out.into_iter().collect()
}

type Checked = (bool, Vec<(String, bool)>);

/// The last round of checks and when it finished.
static LAST: tokio::sync::Mutex<Option<(Instant, Checked)>> = tokio::sync::Mutex::const_new(None);

/// Round numbers, so that the log says which round a failure belongs to.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

async fn readiness(runtime: &Runtime) -> Checked {
    // Callers queue here while one round runs, then share its result.
    let mut last = LAST.lock().await;
    if let Some((at, checked)) = last.as_ref()
        && at.elapsed() < REUSE_FOR
    {
        return checked.clone();
    }
    let checked = check_all(probes(runtime)).await;
    *last = Some((Instant::now(), checked.clone()));
    checked
}

async fn check_all(probes: Vec<(String, Probe)>) -> Checked {
    let round = ROUNDS.fetch_add(1, Ordering::Relaxed);
    let mut running = tokio::task::JoinSet::new();
    for (i, (name, probe)) in probes.into_iter().enumerate() {
        running.spawn(async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, ping(&probe)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!(
                    "no answer within {} s",
                    CHECK_TIMEOUT.as_secs_f64()
                )),
            };
            (i, name, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            // A check that panicked reports nothing, and so cannot count as healthy.
            Err(e) => results.push((usize::MAX, "readiness check".to_owned(), Err(e.to_string()))),
        }
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut failures = Vec::new();
    let mut checks = Vec::with_capacity(results.len());
    for (_, name, outcome) in results {
        if let Err(why) = &outcome {
            failures.push(format!("{name}: {why}"));
        }
        checks.push((name, outcome.is_ok()));
    }
    // One line per round, naming every failed check, so the throttle never hides one of them.
    if !failures.is_empty() {
        FAILED_CHECKS.hit(|more| {
            tracing::warn!(
                round,
                "readiness checks failed: {} ({more} more rounds in the last second)",
                failures.join("; ")
            )
        });
    }
    (failures.is_empty(), checks)
}

async fn ping(probe: &Probe) -> Result<(), String> {
    match probe {
        Probe::Sql(db) => db.ping().await,
        Probe::Kv(store) => store.ping().await,
    }
}

/// `2026-11-22T20:00:00Z`, as shield's `/healthz` prints its time.
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let at = |secs: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_377_600), "2026-11-22T20:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
