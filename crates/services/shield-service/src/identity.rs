//! Identity providers (docs/shield.md, "Design: identity providers"): who the token's bearer is (the external user id).
//!
//! Every failure is `Err(())`, answered as 401 `Invalid token`; reasons are not logged with
//! token contents.

use guest_kit::{OutboundRequest, OutboundResponse};
use jwt_verify::{Error as JwtError, Jwks, KeyType, Keys, PublicKey, Validation};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::store::Provider;
use crate::{Ctx, JWKS_CACHE_TTL_MS, OUTBOUND_TIMEOUT_MS};

pub(crate) fn openfort_base(ctx: &Ctx<'_, '_>) -> String {
    let base = crate::config::OPENFORT_BASE_URL.read(ctx.env);
    base.trim_end_matches('/').to_owned()
}

/// The external user id asserted by `token` for `provider`.
pub(crate) fn identify(ctx: &Ctx<'_, '_>, provider: &Provider, token: &str) -> Result<String, ()> {
    let id = match provider.kind.as_str() {
        "OPENFORT" => openfort(ctx, provider, token)?,
        "CUSTOM" => custom(ctx, provider, token)?,
        _ => return Err(()),
    };
    if id.is_empty() { Err(()) } else { Ok(id) }
}

fn fetch(ctx: &Ctx<'_, '_>, req: OutboundRequest) -> Result<OutboundResponse, ()> {
    let fetcher = ctx.env.fetch.ok_or(())?;
    let resp = fetcher
        .fetch(&req.with_timeout_ms(OUTBOUND_TIMEOUT_MS))
        .map_err(|e| eprintln!("shield: identity provider call failed: {e}"))?;
    if !(200..300).contains(&resp.status) {
        eprintln!("shield: identity provider answered {}", resp.status);
        return Err(());
    }
    Ok(resp)
}

fn json_str(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    cur.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn openfort(ctx: &Ctx<'_, '_>, provider: &Provider, token: &str) -> Result<String, ()> {
    let pk = provider.publishable_key.as_deref().unwrap_or("");
    let base = openfort_base(ctx);
    let of_provider = crate::util::header(ctx.req, "x-openfort-provider");
    let of_token_type = crate::util::header(ctx.req, "x-openfort-token-type");
    if let (Some(p), Some(t)) = (of_provider, of_token_type) {
        // docs/shield.md, "Design: identity providers" step 1: third-party token.
        let body = serde_json::json!({"provider": p, "token": token, "tokenType": t});
        let req = OutboundRequest::new("POST", &format!("{base}/iam/v1/oauth/third_party"))
            .with_header("content-type", "application/json")
            .with_header("authorization", &format!("Bearer {pk}"))
            .with_header("x-request-id", ctx.request_id)
            .with_body(body.to_string().into_bytes());
        let resp = fetch(ctx, req)?;
        let v: Value = serde_json::from_slice(&resp.body).map_err(|_| ())?;
        return json_str(&v, &["id"]).ok_or(());
    }
    if jwt_verify::looks_like_jwt(token) {
        // docs/shield.md, "Design: identity providers" step 2: Openfort-issued JWT, verified against the project's JWKS.
        if pk.is_empty() || pk.contains(['/', '?', '#']) {
            return Err(());
        }
        return verify_with_jwks(ctx, &format!("{base}/iam/v1/{pk}/jwks.json"), token);
    }
    // docs/shield.md, "Design: identity providers" step 3: opaque session token.
    let req = OutboundRequest::new("GET", &format!("{base}/iam/v2/auth/get-session"))
        .with_header("authorization", &format!("Bearer {token}"))
        .with_header("x-project-key", pk)
        .with_header("content-type", "application/json");
    let resp = fetch(ctx, req)?;
    let v: Value = serde_json::from_slice(&resp.body).map_err(|_| ())?;
    let expires = json_str(&v, &["session", "expiresAt"]).ok_or(())?;
    let expires_ms = crate::util::parse_rfc3339(&expires).ok_or(())?;
    if expires_ms <= ctx.env.now_ms {
        return Err(());
    }
    json_str(&v, &["user", "id"]).ok_or(())
}

fn now_secs(ctx: &Ctx<'_, '_>) -> u64 {
    u64::try_from(ctx.env.now_ms.div_euclid(1000)).unwrap_or(0)
}

fn custom(ctx: &Ctx<'_, '_>, provider: &Provider, token: &str) -> Result<String, ()> {
    if let (Some(pem), Some(kt)) = (provider.pem.as_deref(), provider.key_type.as_deref()) {
        let key_type = KeyType::from_name(kt).ok_or(())?;
        let key = PublicKey::from_pem(pem, key_type).map_err(|_| ())?;
        let verified = jwt_verify::verify(
            token,
            Keys::Key(&key),
            &Validation::default(),
            now_secs(ctx),
        )
        .map_err(|_| ())?;
        return Ok(verified.sub);
    }
    if let Some(url) = provider.jwk_url.as_deref().filter(|u| !u.is_empty()) {
        return verify_with_jwks(ctx, url, token);
    }
    Err(())
}

fn cache_key(url: &str) -> String {
    format!(
        "shield:jwks:v1:{}",
        hex::encode(Sha256::digest(url.as_bytes()))
    )
}

/// A cached JWKS body if younger than the TTL: stored as 8-byte big-endian fetch time ‖ body.
fn cached_jwks(ctx: &Ctx<'_, '_>, url: &str) -> Option<Vec<u8>> {
    let kv = ctx.env.kv?;
    let raw = kv.get(&cache_key(url)).ok()??;
    let (time, body) = raw.split_at_checked(8)?;
    let fetched = i64::from_be_bytes(time.try_into().ok()?);
    let age = ctx.env.now_ms - fetched;
    (0..JWKS_CACHE_TTL_MS).contains(&age).then(|| body.to_vec())
}

fn fetch_jwks(ctx: &Ctx<'_, '_>, url: &str) -> Result<Jwks, ()> {
    let resp = fetch(
        ctx,
        OutboundRequest::new("GET", url).with_header("accept", "application/json"),
    )?;
    let jwks = Jwks::parse(&resp.body).map_err(|_| ())?;
    if let Some(kv) = ctx.env.kv {
        let mut value = ctx.env.now_ms.to_be_bytes().to_vec();
        value.extend_from_slice(&resp.body);
        // A cache write failure only costs a refetch.
        let _ = kv.set(&cache_key(url), &value);
    }
    Ok(jwks)
}

/// docs/shield.md, "Design: identity providers": JWKS mode, cached ≤ 5 min per URL; an unknown `kid` refetches once.
fn verify_with_jwks(ctx: &Ctx<'_, '_>, url: &str, token: &str) -> Result<String, ()> {
    let validation = Validation::default();
    let now = now_secs(ctx);
    let cached = cached_jwks(ctx, url).and_then(|b| Jwks::parse(&b).ok());
    let (jwks, fresh) = match cached {
        Some(j) => (j, false),
        None => (fetch_jwks(ctx, url)?, true),
    };
    match jwt_verify::verify(token, Keys::Jwks(&jwks), &validation, now) {
        Ok(v) => Ok(v.sub),
        Err(JwtError::UnknownKid) if !fresh => {
            let jwks = fetch_jwks(ctx, url)?;
            jwt_verify::verify(token, Keys::Jwks(&jwks), &validation, now)
                .map(|v| v.sub)
                .map_err(|_| ())
        }
        Err(_) => Err(()),
    }
}

/// Checks a PEM for a CUSTOM provider (docs/shield.md, "Design: routes" `Invalid PEM certificate`).
pub(crate) fn pem_valid(pem: &str, key_type: &str) -> bool {
    KeyType::from_name(key_type).is_some_and(|kt| PublicKey::from_pem(pem, kt).is_ok())
}
