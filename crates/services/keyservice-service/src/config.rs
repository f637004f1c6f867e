//! docs/keyservice.md, "Configuration": configuration from Spin variables. Each value is read when
//! a route needs it, so a bad value only affects the routes that use it.

use guest_kit::config::{self, Integer};

use crate::Env;
use crate::error::ApiResult;

/// Body limit for every route but `PUT /key` (docs/keyservice.md, "Design: conventions").
pub const SMALL_BODY_LIMIT: usize = 16 * 1024;
/// Default `max_key_bytes`.
pub const DEFAULT_MAX_KEY_BYTES: usize = 65_536;
/// Upper bound accepted for `max_key_bytes`: values are buffered whole in a
/// guest with a capped memory, so absurd settings are refused.
const MAX_KEY_BYTES_LIMIT: u64 = 16 * 1024 * 1024;
const MAX_TTL_SECONDS: u64 = 10 * 365 * 86_400;

// Every integer variable with its default and range (docs/configuration.md: unset takes
// the default, an invalid value is 503 `NOT_CONFIGURED`).
guest_kit::variables! {
    pub const SESSIONIST_MAX_SKEW_SECONDS: Integer = Integer::new(
        "sessionist_max_skew_seconds",
        sessionist::DEFAULT_MAX_SKEW_SECONDS,
    )
    .range(1, sessionist::MAX_SKEW_SECONDS_LIMIT);
    pub const INIT_TOKEN_TTL_SECONDS: Integer =
        Integer::new("init_token_ttl_seconds", 600).range(1, MAX_TTL_SECONDS);
    pub const SESSION_TTL_SECONDS: Integer =
        Integer::new("session_ttl_seconds", 86_400).range(1, MAX_TTL_SECONDS);
    pub const SESSION_IDLE_SECONDS: Integer =
        Integer::new("session_idle_seconds", 0).range(0, MAX_TTL_SECONDS);
    pub const MAX_KEY_BYTES: Integer =
        Integer::new("max_key_bytes", DEFAULT_MAX_KEY_BYTES as u64)
            .range(1, MAX_KEY_BYTES_LIMIT);
    pub const INIT_RATE_LIMIT_PER_MINUTE: Integer =
        Integer::new("init_rate_limit_per_minute", 60).range(0, 1_000_000);
}

pub fn verifier(env: &Env<'_>) -> ApiResult<sessionist::Verifier> {
    sessionist::Verifier::new(SESSIONIST_MAX_SKEW_SECONDS.read(env)?)
        .map_err(|_| config::invalid(SESSIONIST_MAX_SKEW_SECONDS.name))
}

pub fn init_token_ttl_seconds(env: &Env<'_>) -> ApiResult<u64> {
    INIT_TOKEN_TTL_SECONDS.read(env)
}

pub fn session_ttl_seconds(env: &Env<'_>) -> ApiResult<u64> {
    SESSION_TTL_SECONDS.read(env)
}

pub fn session_idle_seconds(env: &Env<'_>) -> ApiResult<u64> {
    SESSION_IDLE_SECONDS.read(env)
}

pub fn max_key_bytes(env: &Env<'_>) -> ApiResult<usize> {
    MAX_KEY_BYTES.read_usize(env)
}

pub fn init_rate_limit_per_minute(env: &Env<'_>) -> ApiResult<u64> {
    INIT_RATE_LIMIT_PER_MINUTE.read(env)
}

/// `client_addr_header`, lower-cased; `None` = use the platform peer address.
pub fn client_addr_header(env: &Env<'_>) -> Option<String> {
    config::text(env, "client_addr_header").map(|h| h.to_ascii_lowercase())
}

/// `cors_allowed_origins`: `None` = CORS off.
pub fn cors_allowed_origins(env: &Env<'_>) -> Option<String> {
    config::text(env, "cors_allowed_origins")
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
