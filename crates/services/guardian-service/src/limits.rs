//! The longest value guardian accepts for each free-text field it stores or passes on, in one
//! place (docs/guardian.md, "Limits"). Over a limit → 400 `BAD_REQUEST` naming the field and the
//! limit; nothing is written and no identity provider is called.

use crate::error::ApiError;

/// `okta_username` (also the per-user rate-limit subject, stored hashed).
pub const OKTA_USERNAME: usize = 256;
/// `okta_password` (never stored; passed to Okta once).
pub const OKTA_PASSWORD: usize = 1024;
/// An id_token's `sub`: OpenID Connect Core 1.0 caps it at 255 ASCII characters. Stored as
/// part of the user id `oidc:<issuer>#<sub>`.
pub const OIDC_SUBJECT: usize = 255;
/// A login's `nonce` (OpenID Connect, "User identity": the id_token's `nonce` claim is its
/// SHA-256); a single-page app's are a few dozen characters.
pub const NONCE: usize = 256;
/// Identity-provider settings holding URLs or URL-like names (`okta_base_url`, `oidc_issuer`,
/// `oidc_audience`, `oidc_jwks_url`).
pub const SETTING_URL: usize = 2048;
/// `okta_api_token` (Okta's are 42 characters).
pub const SETTING_TOKEN: usize = 1024;
/// `okta_group`, `oidc_user_claim`.
pub const SETTING_NAME: usize = 256;
/// `oidc_allowed_domains` (a comma-separated list).
pub const SETTING_LIST: usize = 4096;

/// A user id, as `/guardian/revoke` names one: the longest guardian makes is
/// `oidc:<issuer>#<sub>`.
pub const USER_ID: usize = "oidc:".len() + SETTING_URL + "#".len() + OIDC_SUBJECT;

/// The limit of one identity-provider setting, by its stored name.
pub fn setting(name: &str) -> usize {
    match name {
        "okta_base_url" | "oidc_issuer" | "oidc_audience" | "oidc_jwks_url" => SETTING_URL,
        "okta_api_token" => SETTING_TOKEN,
        "oidc_allowed_domains" => SETTING_LIST,
        _ => SETTING_NAME,
    }
}

/// 400 `BAD_REQUEST` when `value` is longer than `max` bytes.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} bytes"
        )));
    }
    Ok(())
}
