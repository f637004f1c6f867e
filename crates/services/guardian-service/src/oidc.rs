//! docs/guardian.md, "OpenID Connect": OpenID Connect `id_token` login, verified with `jwt-verify` against the
//! issuer's JWKS (fetched through [`guest_kit::Fetch`], cached in the key-value store).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_verify::{Jwks, Keys, Validation, Verified, verify};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::Env;
use crate::config::IdpConfig;
use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::store::{self, digest_hex};
use guest_kit::{Fetch, OutboundRequest};

const MAX_ID_TOKEN: usize = 16 * 1024;
const LEEWAY_MS: i64 = 60_000;
/// At most one refetch for an unknown `kid` per minute.
const REFETCH_MIN_MS: i64 = 60_000;

fn invalid(why: &str) -> ApiError {
    ApiError::new(401, "ID_TOKEN_INVALID", format!("id_token rejected: {why}"))
}

struct Cached {
    jwks: Jwks,
    fetched_at: i64,
}

fn cache_key(url: &str) -> String {
    format!("gd:jwks:{}", digest_hex(url))
}

fn fetch(env: &Env<'_>, out: &dyn Fetch, url: &str) -> Result<Cached, ApiError> {
    let resp = out
        .fetch(&OutboundRequest {
            method: "GET".to_owned(),
            url: url.to_owned(),
            headers: vec![("accept".to_owned(), "application/json".to_owned())],
            body: Vec::new(),
            timeout_ms: crate::okta::CALL_TIMEOUT_MS,
        })
        .map_err(|_| ApiError::idp_unavailable("the JWKS endpoint is unreachable"))?;
    if !(200..=299).contains(&resp.status) {
        return Err(ApiError::idp_unavailable(format!(
            "the JWKS endpoint answered HTTP {}",
            resp.status
        )));
    }
    let jwks = Jwks::parse(&resp.body)
        .map_err(|_| ApiError::idp_unavailable("the JWKS endpoint returned no valid JWKS"))?;
    if let (Some(kv), Ok(body)) = (env.kv, String::from_utf8(resp.body)) {
        let entry = json!({ "at": env.now_ms, "body": body });
        let _ = kv.set(&cache_key(url), entry.to_string().as_bytes());
    }
    Ok(Cached {
        jwks,
        fetched_at: env.now_ms,
    })
}

fn cached(env: &Env<'_>, url: &str, max_age_ms: i64) -> Option<Cached> {
    let raw = env.kv?.get(&cache_key(url)).ok()??;
    let entry: Value = serde_json::from_slice(&raw).ok()?;
    let at = entry.get("at")?.as_i64()?;
    if env.now_ms.saturating_sub(at) >= max_age_ms || at > env.now_ms {
        return None;
    }
    let jwks = Jwks::parse(entry.get("body")?.as_str()?.as_bytes()).ok()?;
    Some(Cached {
        jwks,
        fetched_at: at,
    })
}

/// A verified id_token: the guardian user it names (docs/guardian.md, "User identity") and what
/// [`admit`] needs.
pub struct Identity {
    pub user_id: String,
    /// What single use remembers of the token.
    digest: String,
    /// When the remembered digest may be forgotten.
    remember_until: i64,
    /// The verified email, if any.
    email: Option<String>,
    /// When the user authenticated, if the authentication was fresh and made for guardian: the
    /// login's nonce matched and `auth_time` is within `export_max_login_age_seconds`
    /// (docs/guardian.md, "Design: export").
    pub authenticated_at: Option<i64>,
}

/// Verifies the id_token (fetching the issuer's JWKS when its cache is cold) and its binding to
/// the login's `nonce`, and returns the identity. Writes nothing to the database: the login's
/// transaction begins after this call, so it is never held open across one to the issuer.
pub fn verify_id_token(
    env: &Env<'_>,
    out: &dyn Fetch,
    cfg: &IdpConfig,
    token: &str,
    nonce: Option<&str>,
) -> Result<Identity, ApiError> {
    if nonce.is_none() && crate::config::OIDC_REQUIRE_NONCE.read(env)? {
        return Err(ApiError::bad_request(
            "this deployment requires a nonce with every id_token login: send the value whose \
             SHA-256 (base64url, unpadded) is the id_token's nonce claim",
        ));
    }
    let verified = verified_token(env, out, cfg, token)?;
    // Of the signing input, not the whole token: an ECDSA signature has a second valid form
    // (s ↔ n − s), so one signed token can be spelled twice (docs/guardian.md, "OpenID Connect").
    let digest = hex::encode(verified.signing_input_sha256);
    // A digest's prefix, never the token: a replay names the same one as the first use.
    env.audit
        .detail("id_token", digest.get(..16).unwrap_or_default());
    let claims = &verified.claims;
    let exp_ms = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("exp missing"))?
        .saturating_mul(1000);
    let email = verified_email(claims);
    let authenticated_at = match nonce {
        Some(n) => {
            check_nonce(claims, n)?;
            fresh_authentication(env, claims)?
        }
        None => None,
    };
    if authenticated_at.is_some() {
        env.audit.detail("fresh_auth", true);
    }

    // Checked before the token is remembered: a refused token may be fixed and sent again.
    crate::limits::check(
        "the id_token's sub",
        &verified.sub,
        crate::limits::OIDC_SUBJECT,
    )?;
    let user_id = if cfg.user_claim_email() {
        let email = email.clone().ok_or_else(|| invalid("no verified email"))?;
        format!("email:{email}")
    } else {
        format!("oidc:{}#{}", cfg.oidc_issuer, verified.sub)
    };
    Ok(Identity {
        user_id,
        digest,
        remember_until: exp_ms.saturating_add(LEEWAY_MS),
        email,
        authenticated_at,
    })
}

/// What a login's `nonce` makes of an id_token's `nonce` claim (docs/guardian.md, "OpenID
/// Connect"): base64url without padding of its SHA-256. An app's own login, whose nonce guardian
/// never saw, cannot answer it.
pub fn nonce_claim(nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(nonce.as_bytes()))
}

/// The id_token answers the login's nonce. Checked before the token is remembered.
fn check_nonce(claims: &Map<String, Value>, nonce: &str) -> Result<(), ApiError> {
    let expected = nonce_claim(nonce);
    let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if bool::from(got.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(invalid(
            "its nonce claim is not the SHA-256 (base64url) of the login's nonce",
        ))
    }
}

/// The `auth_time` of a nonce-bound id_token, in ms, if it is within
/// `export_max_login_age_seconds` (and not ahead of the clock by more than the leeway).
fn fresh_authentication(
    env: &Env<'_>,
    claims: &Map<String, Value>,
) -> Result<Option<i64>, ApiError> {
    let max_age = crate::config::EXPORT_MAX_LOGIN_AGE_SECONDS.read_ms(env)?;
    let Some(at) = claims.get("auth_time").and_then(Value::as_i64) else {
        return Ok(None);
    };
    let at = at.saturating_mul(1000);
    let fresh =
        at >= env.now_ms.saturating_sub(max_age) && at <= env.now_ms.saturating_add(LEEWAY_MS);
    Ok(fresh.then_some(at))
}

/// Admits a verified identity, in the login's transaction: the token is spent (single use), then
/// the email's domain is checked. A token refused for its domain stays spent.
pub fn admit(env: &Env<'_>, cfg: &IdpConfig, id: &Identity) -> Result<(), ApiError> {
    if crate::config::OIDC_SINGLE_USE.read(env)? {
        spend(env, id)?;
    }
    check_domain(cfg, id.email.as_deref())
}

/// The token's signature and claims, checked against the issuer's JWKS (cached; fetched again
/// for an unknown `kid`, at most once per [`REFETCH_MIN_MS`]).
fn verified_token(
    env: &Env<'_>,
    out: &dyn Fetch,
    cfg: &IdpConfig,
    token: &str,
) -> Result<Verified, ApiError> {
    if token.is_empty() || token.len() > MAX_ID_TOKEN {
        return Err(invalid("not a compact JWS of at most 16 KiB"));
    }
    let cache_ms = crate::config::OIDC_JWKS_CACHE_SECONDS.read_ms(env)?;
    let mut keys = match cached(env, &cfg.oidc_jwks_url, cache_ms) {
        Some(c) => c,
        None => fetch(env, out, &cfg.oidc_jwks_url)?,
    };
    let validation = Validation::oidc_id_token(cfg.oidc_issuer.clone(), cfg.oidc_audience.clone());
    let now_s = u64::try_from(env.now_ms.div_euclid(1000)).unwrap_or(0);
    let mut result = verify(token, Keys::Jwks(&keys.jwks), &validation, now_s);
    if matches!(result, Err(jwt_verify::Error::UnknownKid))
        && env.now_ms.saturating_sub(keys.fetched_at) >= REFETCH_MIN_MS
    {
        keys = fetch(env, out, &cfg.oidc_jwks_url)?;
        result = verify(token, Keys::Jwks(&keys.jwks), &validation, now_s);
    }
    result.map_err(|e| match e {
        jwt_verify::Error::Expired => {
            ApiError::new(401, "ID_TOKEN_EXPIRED", "the id_token has expired")
        }
        other => invalid(&other.to_string()),
    })
}

/// A verified email (email_verified true or "true"), lowercased.
fn verified_email(claims: &Map<String, Value>) -> Option<String> {
    let email_verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || claims.get("email_verified").and_then(Value::as_str) == Some("true");
    claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| email_verified && e.contains('@') && e.len() <= 320)
        .map(str::to_lowercase)
}

/// Single use: remembers the token until it expires; a token seen before is refused. The
/// tables exist: the login created them before its transaction began.
fn spend(env: &Env<'_>, id: &Identity) -> Result<(), ApiError> {
    if !store::remember_id_token(env.db, &id.digest, id.remember_until)? {
        return Err(invalid("already used"));
    }
    env.audit.detail("id_token_spent", true);
    Ok(())
}

/// With allowed domains configured, the verified email must be in one of them.
fn check_domain(cfg: &IdpConfig, email: Option<&str>) -> Result<(), ApiError> {
    let domains: Vec<String> = cfg
        .oidc_allowed_domains
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    if domains.is_empty() {
        return Ok(());
    }
    let domain = email
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.to_owned());
    if !domain.is_some_and(|d| domains.contains(&d)) {
        return Err(ApiError::new(
            403,
            "USER_NOT_IN_ORG",
            "the account's email domain is not allowed",
        ));
    }
    Ok(())
}
