//! docs/guardian.md, "Design: tokens": presenting, consuming and minting single-use tokens.

use guest_kit::Request;

use crate::Env;
use crate::config;
use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::store::{self, TokenKind, TokenRow};

/// The presented token: `Authorization: Bearer <t>` and/or `X-Vault-Token: <t>`. Missing,
/// malformed, repeated, or two different values → 401.
pub fn presented(req: &Request) -> Result<String, ApiError> {
    let mut found: Option<String> = None;
    let mut take = |t: &str| -> Result<(), ApiError> {
        let t = t.trim();
        if !store::token_well_formed(t) {
            return Err(ApiError::auth_invalid());
        }
        match &found {
            Some(prev) if prev != t => Err(ApiError::auth_invalid()),
            _ => {
                found = Some(t.to_owned());
                Ok(())
            }
        }
    };
    if req.header_count("authorization") > 1 || req.header_count("x-vault-token") > 1 {
        return Err(ApiError::auth_invalid());
    }
    if let Some(raw) = req.header("authorization") {
        let s = std::str::from_utf8(raw).map_err(|_| ApiError::auth_invalid())?;
        let (scheme, rest) = s
            .trim()
            .split_once(' ')
            .ok_or_else(ApiError::auth_invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::auth_invalid());
        }
        take(rest)?;
    }
    if let Some(raw) = req.header("x-vault-token") {
        let s = std::str::from_utf8(raw).map_err(|_| ApiError::auth_invalid())?;
        take(s)?;
    }
    found.ok_or_else(ApiError::auth_invalid)
}

/// docs/guardian.md, "Design: tokens" steps 2–4: consume the presented token and mint its successor in the same chain.
/// Returns the consumed row and the fresh token. The audit record gets the actor and both
/// tokens' names ([`store::token_id`]).
pub fn consume_and_refresh(env: &Env<'_>, req: &Request) -> Result<(TokenRow, String), ApiError> {
    let token = presented(req)?;
    // Named before the lookup: a spent token presented again shows up as a replay.
    env.audit.detail("token", store::token_id(&token));
    let row =
        store::consume_token(env.db, &token, env.now_ms)?.ok_or_else(ApiError::auth_invalid)?;
    env.audit.actor(&actor(&row.user_id));
    let fresh = mint_fresh(env, &row)?;
    env.audit.detail("token_issued", store::token_id(&fresh));
    Ok((row, fresh))
}

/// The audit trail's actor for a guardian user.
pub fn actor(user_id: &str) -> String {
    format!("user={user_id}")
}

/// A fresh token inheriting the chain: `min(now + ttl, chain_started_at + chain_max)`.
pub fn mint_fresh(env: &Env<'_>, row: &TokenRow) -> Result<String, ApiError> {
    let ttl = config::TOKEN_TTL_SECONDS.read_ms(env)?;
    let chain_max = config::TOKEN_CHAIN_MAX_SECONDS.read_ms(env)?;
    let expires = env
        .now_ms
        .saturating_add(ttl)
        .min(row.chain_started_at.saturating_add(chain_max));
    store::mint_token(
        env.db,
        &row.user_id,
        TokenKind::Fresh,
        env.now_ms,
        expires,
        row.chain_started_at,
        Some(&row.chain_id),
    )
}

/// A login token starting a new chain (named after the token: [`store::mint_token`]).
/// `authenticated_at` is the time of a fresh authentication made for guardian, if the login
/// carried one (docs/guardian.md, "Design: export"): the token is then a `reauth` token whose
/// `issued_at` is that time, so export measures its age from the authentication, not the login.
pub fn mint_login(
    env: &Env<'_>,
    user_id: &str,
    authenticated_at: Option<i64>,
) -> Result<String, ApiError> {
    let ttl = config::TOKEN_TTL_SECONDS.read_ms(env)?;
    let chain_max = config::TOKEN_CHAIN_MAX_SECONDS.read_ms(env)?;
    let expires = env.now_ms.saturating_add(ttl.min(chain_max));
    let (kind, issued_at) = match authenticated_at {
        Some(at) => (TokenKind::Reauth, at.min(env.now_ms)),
        None => (TokenKind::Login, env.now_ms),
    };
    store::mint_token(env.db, user_id, kind, issued_at, expires, env.now_ms, None)
}
