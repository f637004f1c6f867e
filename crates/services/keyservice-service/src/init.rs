//! `POST /init` (docs/keyservice.md, "Design: init tokens").

use guest_kit::{Request, Response};
use serde_json::json;

use crate::crypto::{self, Keys, Purpose};
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::{Env, config, net};
use guest_kit::ratelimit::{FixedWindow, KvCounters, OnStoreFailure, Refusal};

/// Path, method and body size were checked by the router.
pub(crate) fn post(env: &Env<'_>, req: &Request) -> ApiResult<Response> {
    env.audit.action("init_token.issue");
    env.audit.actor("anonymous");
    let keys = Keys::load(env)?;
    let ttl = config::init_token_ttl_seconds(env)?;
    rate_limit(env, req)?;

    let store = Store::new(env.db);
    let token = crypto::new_token()?;
    let token_hash = crypto::sha512_hex(&token);
    // A digest's prefix, never the token: it matches the `/connect` that consumes it.
    env.audit.object(&format!(
        "init_token:{}",
        token_hash.get(..16).unwrap_or_default()
    ));
    let token_ct = keys.seal(
        Purpose::InitToken,
        token.as_bytes(),
        &crypto::aad_init(&token_hash),
    )?;
    store.insert_init_token(
        &token_hash,
        &token_ct,
        env.now_ms.saturating_add(config::ms(ttl)),
    )?;
    if crypto::random_byte() < 16 {
        store.sweep_init_tokens(env.now_ms)?;
    }
    Ok(Response::json(200, &json!({ "initToken": token.as_str() }))
        .with_header("cache-control", "no-store"))
}

/// Where the `/init` counters live: `<PREFIX><minute>:<address>` → count (guest-kit's
/// `KvCounters`).
const RATE_PREFIX: &str = "keyservice:init-rate:";
/// The last minute whose stale counters were swept (outside [`RATE_PREFIX`]).
const RATE_SWEPT: &str = "keyservice:init-rate-swept";

/// Fixed one-minute windows per client address, one key-value counter per address and minute
/// (approximate by design: concurrent requests may both pass the last slot). Fails closed: this
/// limit is the only brake on minting init tokens.
fn rate_limit(env: &Env<'_>, req: &Request) -> ApiResult<()> {
    let limit = config::init_rate_limit_per_minute(env)?;
    if limit == 0 {
        return Ok(());
    }
    let kv = env
        .kv
        .ok_or_else(|| ApiError::internal("rate limit store not available"))?;
    let header = config::client_addr_header(env);
    // Unknown addresses share one bucket, so they cannot escape the limit.
    let addr = net::client_address(req, header.as_deref())
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let rule = FixedWindow::per_minute(limit, OnStoreFailure::Refuse);
    let (prefix, swept) = (RATE_PREFIX, RATE_SWEPT);
    let counters = KvCounters { kv, prefix, swept };
    rule.check(&counters, &addr, env.now_ms)
        .map_err(|refusal| match refusal {
            Refusal::Limited { retry_after_secs } => ApiError::rate_limited(retry_after_secs),
            Refusal::StoreFailed => ApiError::internal("rate limit store"),
        })
}
