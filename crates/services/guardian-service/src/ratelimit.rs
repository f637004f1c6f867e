//! Login rate limits (docs/guardian.md, "Design: login"): fixed one-minute windows in the
//! key-value store, through guest-kit's one rate limiter, keyed on the client as guest-kit
//! resolves it behind the deployment's trusted proxies (docs/platform.md, "Design: client
//! addresses"):
//!
//! - every attempt counts against its client address (`login_rate_limit_per_minute`);
//! - only failed identity checks count against the pair (username, client address)
//!   (`login_user_rate_limit_per_minute`), so failures from one address never lock the user out
//!   from another, and a successful login costs nothing.
//!
//! Failing open: the identity check behind them still has to pass.

use guest_kit::net::{self, Cidr};
use guest_kit::ratelimit::{FixedWindow, KvCounters, OnStoreFailure, Refusal};
use guest_kit::{Kv, Request};

use crate::Env;
use crate::config::{self, var};
use crate::error::ApiError;
use crate::store::digest_hex;

/// Counters live at `<PREFIX><minute>:<scope>:<subject digest>`.
const PREFIX: &str = "gd:rl:";
/// The last minute whose stale counters were swept (outside [`PREFIX`]).
const SWEPT: &str = "gd:rl-swept";
/// The variable listing the trusted proxies.
pub const TRUSTED_PROXIES: &str = "guardian_trusted_proxies";

fn counters(kv: &dyn Kv) -> KvCounters<'_> {
    KvCounters {
        kv,
        prefix: PREFIX,
        swept: SWEPT,
    }
}

fn limited(refusal: Result<(), Refusal>) -> Result<(), ApiError> {
    match refusal {
        Err(Refusal::Limited { retry_after_secs }) => Err(ApiError::too_many_requests(
            "too many login attempts; retry later",
            retry_after_secs,
        )),
        // Failing open, the limiter never reports a store failure.
        Ok(()) | Err(Refusal::StoreFailed) => Ok(()),
    }
}

/// Subjects (addresses, usernames) are hashed: the store never holds them in clear.
fn bucket(scope: &str, subject: &str) -> String {
    format!("{scope}:{}", digest_hex(subject))
}

/// The login's client address: the peer, or behind a proxy listed in `guardian_trusted_proxies`
/// the client its `X-Forwarded-For` names. An invalid list is 503 `NOT_CONFIGURED` naming the
/// entry; a request without a peer (never from the platform) is keyed as `unknown`.
pub fn client_address(env: &Env<'_>, req: &Request) -> Result<String, ApiError> {
    let trusted: Vec<Cidr> = match var(env, TRUSTED_PROXIES) {
        None => Vec::new(),
        Some(list) => net::parse_cidr_list(&list).map_err(|entry| {
            ApiError::not_configured(format!(
                "{TRUSTED_PROXIES} must list addresses or CIDR blocks; {entry:?} is neither"
            ))
        })?,
    };
    Ok(
        net::client_address(req, &trusted)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
    )
}

/// Counts one attempt from `client` in the current minute; 429 with `Retry-After` past the
/// limit. A limit of 0 disables the check.
pub fn check_client(env: &Env<'_>, client: &str) -> Result<(), ApiError> {
    let Some(kv) = env.kv else { return Ok(()) };
    let limit = config::LOGIN_RATE_LIMIT_PER_MINUTE.read(env)?;
    let rule = FixedWindow::per_minute(limit, OnStoreFailure::Allow);
    let outcome = limited(rule.check(&counters(kv), &bucket("ip", client), env.now_ms));
    if outcome.is_err() {
        env.audit.detail("rate_limited", "client_address");
    }
    outcome
}

/// The failed identity checks of one (username, client address) in the current minute.
pub struct Failures<'a> {
    counted: Option<(&'a dyn Kv, FixedWindow, String, i64)>,
}

impl<'a> Failures<'a> {
    /// Nothing is counted (a login without a username).
    pub fn none() -> Self {
        Self { counted: None }
    }

    /// Before the identity provider is asked: 429 with `Retry-After` if this username has
    /// already failed `login_user_rate_limit_per_minute` times from `client` this minute.
    pub fn before(env: &Env<'a>, username: &str, client: &str) -> Result<Self, ApiError> {
        let Some(kv) = env.kv else {
            return Ok(Self::none());
        };
        let limit = config::LOGIN_USER_RATE_LIMIT_PER_MINUTE.read(env)?;
        let rule = FixedWindow::per_minute(limit, OnStoreFailure::Allow);
        // The pair, case-insensitive in the username; NUL cannot occur in either part.
        let subject = format!("{}\0{client}", username.to_lowercase());
        let bucket = bucket("user", &subject);
        if let Err(e) = limited(rule.reached(&counters(kv), &bucket, env.now_ms)) {
            env.audit.detail("rate_limited", "username_failures");
            return Err(e);
        }
        Ok(Self {
            counted: Some((kv, rule, bucket, env.now_ms)),
        })
    }

    /// The identity check's outcome, after counting it if the provider said no (a 401 or 403:
    /// wrong password, push rejected or unanswered, account locked, not in the group). An
    /// unreachable provider (5xx) is not the user's failure.
    pub fn count<T>(&self, outcome: Result<T, ApiError>) -> Result<T, ApiError> {
        if let (Err(e), Some((kv, rule, bucket, now_ms))) = (&outcome, &self.counted)
            && matches!(e.status, 401 | 403)
        {
            // Past the limit the next attempt is refused by `before`; this one's answer stands.
            let _ = rule.check(&counters(*kv), bucket, *now_ms);
        }
        outcome
    }
}
