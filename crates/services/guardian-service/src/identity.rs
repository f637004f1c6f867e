//! docs/guardian.md, "User identity": every user is bound to the identity provider that created
//! it (`gd_user_provider`), and a login asserted by another provider never reaches it.

use guest_kit::Value;

use crate::Env;
use crate::config::IdpConfig;
use crate::error::{ApiError, db_err};
use crate::url::Url;

/// A URL as the binding compares it: lower-cased scheme and host, the port always written, the
/// rest as given (so `https://a.example` and `HTTPS://A.example:443` are one provider).
fn canonical(url: &str) -> Result<String, ApiError> {
    let u = Url::parse(url)
        .ok_or_else(|| ApiError::not_configured("an identity-provider URL is invalid"))?;
    Ok(format!("{}://{}:{}{}", u.scheme, u.host, u.port, u.rest))
}

/// The Okta provider: the origin of `okta_base_url` (the org that says who the user is).
pub fn okta(idp: &IdpConfig) -> Result<String, ApiError> {
    let u = Url::parse(&idp.okta_base_url)
        .ok_or_else(|| ApiError::not_configured("okta_base_url is invalid"))?;
    Ok(format!("okta|{}://{}:{}", u.scheme, u.host, u.port))
}

/// The OpenID Connect provider: the issuer and the JWKS URL (the keys that vouch for it), in
/// both claim modes.
pub fn oidc(idp: &IdpConfig) -> Result<String, ApiError> {
    Ok(format!(
        "oidc|{}|{}",
        idp.oidc_issuer,
        canonical(&idp.oidc_jwks_url)?
    ))
}

/// Binds `user_id` to `provider` if it is not bound yet, in the login's transaction, before the
/// user's key is found or created; refuses a login whose provider is not the bound one (403
/// `IDENTITY_PROVIDER_MISMATCH`). `true` if this call wrote the binding.
pub fn bind(env: &Env<'_>, user_id: &str, provider: &str) -> Result<bool, ApiError> {
    let rows = env
        .db
        .execute(
            "INSERT INTO gd_user_provider (user_id, provider, bound_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
            &[user_id.into(), provider.into(), Value::Integer(env.now_ms)],
        )
        .map_err(|e| db_err(&e))?;
    if !rows.is_empty() {
        return Ok(true);
    }
    let rows = env
        .db
        .execute(
            "SELECT provider FROM gd_user_provider WHERE user_id = ?",
            &[user_id.into()],
        )
        .map_err(|e| db_err(&e))?;
    let bound = rows.first().and_then(|r| r.text(0).map(str::to_owned));
    if bound.as_deref() == Some(provider) {
        return Ok(false);
    }
    // Provider settings, not secrets: they name who asserted the identity and who created it.
    env.audit.detail("provider", provider);
    if let Some(b) = &bound {
        env.audit.detail("bound_provider", b.as_str());
    }
    Err(ApiError::new(
        403,
        "IDENTITY_PROVIDER_MISMATCH",
        "this account was created through another identity provider than the one configured \
         now; log in through the provider that created it, or ask the operator",
    ))
}
