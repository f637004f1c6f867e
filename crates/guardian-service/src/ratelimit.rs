//! Fixed one-minute windows in the key-value store (guardian.md §4: per client address and per
//! `okta_username`). Spin's key-value interface has no atomic increment, so a burst of
//! concurrent requests may exceed a limit by the number in flight: these are abuse brakes, not
//! exact quotas.

use guest_kit::Kv;

use crate::error::ApiError;
use crate::store::digest_hex;

/// Counters live at `<PREFIX><scope>:<subject digest>:<minute>`: the minute is in the key so a
/// sweep can tell a stale counter from its name alone.
const PREFIX: &str = "gd:rl:";
/// The last minute whose stale counters were swept (outside [`PREFIX`]).
const SWEPT: &str = "gd:rl-swept";

/// Counts one attempt for `subject` in the current minute; 429 with `Retry-After` past `limit`.
/// A limit of 0 disables the check. Storage failures fail open (logged by nobody, counted by
/// nothing): the identity check still has to pass.
pub fn check(
    kv: Option<&dyn Kv>,
    scope: &str,
    subject: &str,
    limit: u64,
    now_ms: i64,
) -> Result<(), ApiError> {
    let Some(kv) = kv else { return Ok(()) };
    if limit == 0 {
        return Ok(());
    }
    let window = now_ms.div_euclid(60_000);
    // Subjects (usernames) are hashed: the store never holds them in clear.
    let key = format!("{PREFIX}{scope}:{}:{window}", digest_hex(subject));
    let count = kv
        .get(&key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    if count >= limit {
        let retry = 60 - now_ms.rem_euclid(60_000) / 1000;
        return Err(
            ApiError::new(429, "RATE_LIMITED", "too many login attempts; retry later")
                .with_header("retry-after", retry.max(1).to_string()),
        );
    }
    let _ = kv.set(&key, (count + 1).to_string().as_bytes());
    // Drop the previous window's counter (best effort; keeps the store small).
    let _ = kv.delete(&format!(
        "{PREFIX}{scope}:{}:{}",
        digest_hex(subject),
        window - 1
    ));
    if count == 0 {
        // A subject's first attempt of a minute: earlier minutes' counters of every subject
        // (addresses and users that never came back) go too, at most one sweep per minute
        // (guest_kit::kv). Best effort, like the rest of this limiter.
        let _ = guest_kit::kv::sweep_once_per_window(kv, SWEPT, window, PREFIX, |rest| {
            rest.rsplit_once(':')
                .and_then(|(_, w)| w.parse::<i64>().ok())
                .is_none_or(|w| w < window)
        });
    }
    Ok(())
}
