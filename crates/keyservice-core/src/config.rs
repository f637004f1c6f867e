//! keyservice.md §6: configuration from Spin variables. Each value is read when
//! a route needs it, so a bad value only affects the routes that use it.

use crate::Env;
use crate::error::{ApiError, ApiResult};

/// Body limit for every route but `PUT /key` (§2).
pub const SMALL_BODY_LIMIT: usize = 16 * 1024;
/// Default `max_key_bytes`.
pub const DEFAULT_MAX_KEY_BYTES: usize = 65_536;
/// Upper bound accepted for `max_key_bytes`: values are buffered whole in a
/// guest with a capped memory, so absurd settings are refused.
const MAX_KEY_BYTES_LIMIT: u64 = 16 * 1024 * 1024;
const MAX_TTL_SECONDS: u64 = 10 * 365 * 86_400;

/// A variable's value, empty/blank treated as unset (Spin variables default
/// to `""` when the manifest says so).
fn raw(env: &Env<'_>, name: &str) -> Option<String> {
    (env.vars)(name).filter(|v| !v.trim().is_empty())
}

/// An integer variable in `range`, or the default when unset. A value that is
/// set but invalid is a deployment error: the affected routes answer 503
/// rather than silently running with a different setting.
fn integer(
    env: &Env<'_>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> ApiResult<u64> {
    let Some(value) = raw(env, name) else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            ApiError::not_configured(format!("configuration variable {name} is invalid"))
        })
}

pub fn max_skew_seconds(env: &Env<'_>) -> ApiResult<u64> {
    integer(
        env,
        "sessionist_max_skew_seconds",
        sessionist::DEFAULT_MAX_SKEW_SECONDS,
        1..=sessionist::MAX_SKEW_SECONDS_LIMIT,
    )
}

pub fn verifier(env: &Env<'_>) -> ApiResult<sessionist::Verifier> {
    sessionist::Verifier::new(max_skew_seconds(env)?).map_err(|_| {
        ApiError::not_configured("configuration variable sessionist_max_skew_seconds is invalid")
    })
}

pub fn init_token_ttl_seconds(env: &Env<'_>) -> ApiResult<u64> {
    integer(env, "init_token_ttl_seconds", 600, 1..=MAX_TTL_SECONDS)
}

pub fn session_ttl_seconds(env: &Env<'_>) -> ApiResult<u64> {
    integer(env, "session_ttl_seconds", 86_400, 1..=MAX_TTL_SECONDS)
}

pub fn session_idle_seconds(env: &Env<'_>) -> ApiResult<u64> {
    integer(env, "session_idle_seconds", 0, 0..=MAX_TTL_SECONDS)
}

pub fn max_key_bytes(env: &Env<'_>) -> ApiResult<usize> {
    let v = integer(
        env,
        "max_key_bytes",
        DEFAULT_MAX_KEY_BYTES as u64,
        1..=MAX_KEY_BYTES_LIMIT,
    )?;
    usize::try_from(v)
        .map_err(|_| ApiError::not_configured("configuration variable max_key_bytes is invalid"))
}

pub fn init_rate_limit_per_minute(env: &Env<'_>) -> ApiResult<u64> {
    integer(env, "init_rate_limit_per_minute", 60, 0..=1_000_000)
}

/// `client_addr_header`, lower-cased; `None` = use the platform peer address.
pub fn client_addr_header(env: &Env<'_>) -> Option<String> {
    raw(env, "client_addr_header").map(|h| h.trim().to_ascii_lowercase())
}

/// `cors_allowed_origins`: `None` = CORS off.
pub fn cors_allowed_origins(env: &Env<'_>) -> Option<String> {
    raw(env, "cors_allowed_origins")
}

/// `admin_token`; `None` when absent or empty (operator API disabled).
pub fn admin_token(env: &Env<'_>) -> Option<zeroize::Zeroizing<String>> {
    (env.vars)("admin_token")
        .filter(|v| !v.is_empty())
        .map(zeroize::Zeroizing::new)
}

/// Seconds → milliseconds for arithmetic on unix-ms timestamps.
pub fn ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}
