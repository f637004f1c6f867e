//! docs/guardian.md, "Design: configuration and storage": variables, and the IdP settings `/guardian/authorize` may override
//! (`gd_config`, overrides beat variables; `okta_api_token` sealed at rest).

use envelope::{Keyring, Sealer};
use guest_kit::Value;
use guest_kit::config::{Flag, Integer};

use crate::Env;
use crate::error::Guardian as _;
use crate::error::{ApiError, db_err};
use crate::store;

pub use sealed_columns::guardian::{CONFIG_INFO, MNEMONIC_INFO};

/// The IdP settings `/guardian/authorize` may override, in storage order.
pub const IDP_SETTINGS: &[&str] = &[
    "okta_base_url",
    "okta_api_token",
    "okta_group",
    "oidc_issuer",
    "oidc_audience",
    "oidc_jwks_url",
    "oidc_user_claim",
    "oidc_allowed_domains",
];

/// A variable, trimmed; `None` when undefined or empty.
pub use guest_kit::config::text as var;

// The numeric and boolean variables with their defaults (docs/guardian.md, "Configuration";
// unset takes the default, an invalid value is 503 `NOT_CONFIGURED`: docs/configuration.md).
guest_kit::variables! {
    pub const TOKEN_TTL_SECONDS: Integer = Integer::new("token_ttl_seconds", 900);
    pub const TOKEN_CHAIN_MAX_SECONDS: Integer = Integer::new("token_chain_max_seconds", 43_200);
    pub const EXPORT_MAX_LOGIN_AGE_SECONDS: Integer =
        Integer::new("export_max_login_age_seconds", 300);
    pub const OIDC_JWKS_CACHE_SECONDS: Integer = Integer::new("oidc_jwks_cache_seconds", 600);
    pub const LOGIN_RATE_LIMIT_PER_MINUTE: Integer =
        Integer::new("login_rate_limit_per_minute", 20);
    pub const LOGIN_USER_RATE_LIMIT_PER_MINUTE: Integer =
        Integer::new("login_user_rate_limit_per_minute", 10);
    pub const OKTA_POLL_INTERVAL_MS: Integer = Integer::new("okta_poll_interval_ms", 500);
    pub const OKTA_MFA_TIMEOUT_SECONDS: Integer = Integer::new("okta_mfa_timeout_seconds", 25);
    pub const MAX_BODY_BYTES: Integer = Integer::new("max_body_bytes", 262_144);
    pub const ALLOW_EXPORT: Flag = Flag::new("allow_export", false);
    pub const OIDC_SINGLE_USE: Flag = Flag::new("oidc_single_use", true);
    pub const OIDC_REQUIRE_NONCE: Flag = Flag::new("oidc_require_nonce", false);
}

/// The request body limit, checked again by every handler.
pub fn max_body_bytes(env: &Env<'_>) -> Result<usize, ApiError> {
    MAX_BODY_BYTES.read_usize(env)
}

/// `master_key` and `master_key_previous` (docs/platform.md, "Design: sealing at rest").
pub fn master_key(env: &Env<'_>) -> Result<Keyring, ApiError> {
    if var(env, "master_key").is_none() {
        return Err(ApiError::not_configured("master_key is not configured"));
    }
    guest_kit::config::master_keys(env).map_err(|_| {
        ApiError::not_configured(
            "master_key and master_key_previous must be 32 bytes of base64 each",
        )
    })
}

pub fn sealer(master: &Keyring, info: &[u8]) -> Result<Sealer, ApiError> {
    Sealer::with_keyring(master, info).map_err(|_| ApiError::internal("key derivation failed"))
}

pub fn config_aad(name: &str) -> Vec<u8> {
    sealed_columns::guardian::aad_config(name).into_bytes()
}

/// The effective IdP settings (variables merged with `gd_config` overrides). Empty = unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IdpConfig {
    pub okta_base_url: String,
    pub okta_api_token: String,
    pub okta_group: String,
    pub oidc_issuer: String,
    pub oidc_audience: String,
    pub oidc_jwks_url: String,
    pub oidc_user_claim: String,
    pub oidc_allowed_domains: String,
}

impl std::fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("okta_base_url", &self.okta_base_url)
            .field("okta_api_token", &"<redacted>")
            .field("okta_group", &self.okta_group)
            .field("oidc_issuer", &self.oidc_issuer)
            .field("oidc_audience", &self.oidc_audience)
            .field("oidc_jwks_url", &self.oidc_jwks_url)
            .finish_non_exhaustive()
    }
}

impl IdpConfig {
    pub fn slot(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "okta_base_url" => &mut self.okta_base_url,
            "okta_api_token" => &mut self.okta_api_token,
            "okta_group" => &mut self.okta_group,
            "oidc_issuer" => &mut self.oidc_issuer,
            "oidc_audience" => &mut self.oidc_audience,
            "oidc_jwks_url" => &mut self.oidc_jwks_url,
            "oidc_user_claim" => &mut self.oidc_user_claim,
            "oidc_allowed_domains" => &mut self.oidc_allowed_domains,
            _ => return None,
        })
    }

    /// From the variables only.
    pub fn from_vars(env: &Env<'_>) -> Self {
        let mut cfg = IdpConfig::default();
        for name in IDP_SETTINGS {
            if let (Some(v), Some(slot)) = (var(env, name), cfg.slot(name)) {
                *slot = v;
            }
        }
        cfg
    }

    pub fn okta_enabled(&self) -> bool {
        !self.okta_base_url.is_empty()
    }

    pub fn oidc_enabled(&self) -> bool {
        !self.oidc_issuer.is_empty()
            && !self.oidc_audience.is_empty()
            && !self.oidc_jwks_url.is_empty()
    }

    pub fn user_claim_email(&self) -> bool {
        self.oidc_user_claim.eq_ignore_ascii_case("email")
    }

    /// docs/guardian.md, "Design: authorize" validation of the merged settings; the message names the problem, never a secret.
    pub fn validate(&self) -> Result<(), String> {
        if !self.okta_base_url.is_empty() {
            check_base_url(&self.okta_base_url).map_err(|e| format!("okta_base_url {e}"))?;
        }
        let oidc = [&self.oidc_issuer, &self.oidc_audience, &self.oidc_jwks_url];
        let set = oidc.iter().filter(|v| !v.is_empty()).count();
        if set != 0 && set != 3 {
            return Err(
                "oidc_issuer, oidc_audience and oidc_jwks_url must be set together".to_owned(),
            );
        }
        if !self.oidc_jwks_url.is_empty() {
            check_url(&self.oidc_jwks_url).map_err(|e| format!("oidc_jwks_url {e}"))?;
        }
        if !self.oidc_user_claim.is_empty()
            && self.oidc_user_claim != "sub"
            && self.oidc_user_claim != "email"
        {
            return Err("oidc_user_claim must be \"sub\" or \"email\"".to_owned());
        }
        if !self.okta_group.is_empty() && self.okta_api_token.is_empty() {
            return Err("okta_group requires okta_api_token".to_owned());
        }
        Ok(())
    }
}

/// `okta_base_url`: an origin (`https://host[:port]`, or `http://` on loopback), no path.
pub fn check_base_url(url: &str) -> Result<(), &'static str> {
    let parsed = crate::url::Url::parse(url).ok_or("is not an absolute http(s) URL")?;
    if !parsed.rest.is_empty() && parsed.rest != "/" {
        return Err("must be an origin without a path");
    }
    check_scheme(&parsed)
}

/// Any IdP URL: https, or http on loopback only.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    let parsed = crate::url::Url::parse(url).ok_or("is not an absolute http(s) URL")?;
    check_scheme(&parsed)
}

fn check_scheme(u: &crate::url::Url) -> Result<(), &'static str> {
    if u.scheme == "https" || (u.scheme == "http" && u.is_loopback()) {
        Ok(())
    } else {
        Err("must use https (http only for 127.0.0.1, localhost or [::1])")
    }
}

/// Variables merged with the `gd_config` overrides.
pub fn effective_idp(env: &Env<'_>, master: &Keyring) -> Result<IdpConfig, ApiError> {
    let mut cfg = IdpConfig::from_vars(env);
    for (name, value) in load_overrides(env, master)? {
        if let Some(slot) = cfg.slot(&name) {
            *slot = value;
        }
    }
    Ok(cfg)
}

/// The stored overrides, decrypted (`okta_api_token`). Creates the tables if need be: login
/// reads the overrides before its transaction begins; inside a transaction the tables already
/// exist and this is one probe.
pub fn load_overrides(env: &Env<'_>, master: &Keyring) -> Result<Vec<(String, String)>, ApiError> {
    store::ensure_schema(env.db)?;
    let rows = env
        .db
        .execute("SELECT name, value FROM gd_config", &[])
        .map_err(|e| db_err(&e))?;
    let mut out = Vec::new();
    let sealer = sealer(master, CONFIG_INFO)?;
    for row in rows.iter() {
        let (Some(name), Some(value)) = (row.text(0), row.text(1)) else {
            continue;
        };
        if !IDP_SETTINGS.contains(&name) {
            continue;
        }
        let value = if name == sealed_columns::guardian::SEALED_SETTING {
            let plain = sealer
                .open(value, &config_aad(name))
                .map_err(|_| ApiError::internal("a stored setting cannot be decrypted"))?;
            String::from_utf8(plain)
                .map_err(|_| ApiError::internal("a stored setting is corrupt"))?
        } else {
            value.to_owned()
        };
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

/// Stores (`Some`) or drops (`None`) one override.
pub fn write_override(
    env: &Env<'_>,
    master: &Keyring,
    name: &str,
    value: Option<&str>,
) -> Result<(), ApiError> {
    match value {
        None => {
            env.db
                .execute("DELETE FROM gd_config WHERE name = ?", &[name.into()])
                .map_err(|e| db_err(&e))?;
        }
        Some(v) => {
            let stored = if name == sealed_columns::guardian::SEALED_SETTING {
                sealer(master, CONFIG_INFO)?
                    .seal(v.as_bytes(), &config_aad(name))
                    .map_err(|_| ApiError::internal("cannot seal a setting"))?
            } else {
                v.to_owned()
            };
            env.db
                .execute(
                    "INSERT INTO gd_config (name, value, updated_at) VALUES (?, ?, ?) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    &[name.into(), stored.into(), Value::Integer(env.now_ms)],
                )
                .map_err(|e| db_err(&e))?;
        }
    }
    Ok(())
}
