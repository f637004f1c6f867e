//! Fixed one-minute windows in the key-value store (per client address and per `okta_username`:
//! docs/guardian.md, "Configuration"), through guest-kit's one rate limiter. Failing open: the
//! identity check behind it still has to pass.

use guest_kit::Kv;
use guest_kit::ratelimit::{FixedWindow, KvCounters, OnStoreFailure, Refusal};

use crate::error::ApiError;
use crate::store::digest_hex;

/// Counters live at `<PREFIX><minute>:<scope>:<subject digest>`.
const PREFIX: &str = "gd:rl:";
/// The last minute whose stale counters were swept (outside [`PREFIX`]).
const SWEPT: &str = "gd:rl-swept";

/// Counts one attempt for `subject` in the current minute; 429 with `Retry-After` past `limit`.
/// A limit of 0 disables the check. Storage failures fail open (logged by nobody, counted by
/// nothing).
pub fn check(
    kv: Option<&dyn Kv>,
    scope: &str,
    subject: &str,
    limit: u64,
    now_ms: i64,
) -> Result<(), ApiError> {
    let Some(kv) = kv else { return Ok(()) };
    let rule = FixedWindow::per_minute(limit, OnStoreFailure::Allow);
    let counters = KvCounters {
        kv,
        prefix: PREFIX,
        swept: SWEPT,
    };
    // Subjects (usernames) are hashed: the store never holds them in clear.
    let bucket = format!("{scope}:{}", digest_hex(subject));
    match rule.check(&counters, &bucket, now_ms) {
        Err(Refusal::Limited { retry_after_secs }) => Err(ApiError::too_many_requests(
            "too many login attempts; retry later",
            retry_after_secs,
        )),
        // Failing open, the limiter never reports a store failure.
        Ok(()) | Err(Refusal::StoreFailed) => Ok(()),
    }
}
