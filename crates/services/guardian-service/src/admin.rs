//! The maintainer's routes (`guardian-admin`): `POST /guardian/authorize`, overrides of the IdP
//! settings (docs/guardian.md, "Design: authorize"), and `POST /guardian/revoke`, the end of
//! every token chain of one user (docs/guardian.md, "Design: logout and revocation").

use guest_kit::{Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{self, IDP_SETTINGS};
use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::{Env, limits, store};

fn bearer_ok(req: &Request, admin_token: &str) -> bool {
    if req.header_count("authorization") != 1 {
        return false;
    }
    let Some(value) = req.header_str("authorization") else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let a = Sha256::digest(token.trim().as_bytes());
    let b = Sha256::digest(admin_token.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// The maintainer's bearer: 403 while `admin_token` is unset, 401 unless it is presented.
pub(crate) fn authenticate(env: &Env<'_>, req: &Request) -> Result<(), ApiError> {
    let Some(admin_token) = config::var(env, "admin_token") else {
        return Err(ApiError::new(
            403,
            "ADMIN_DISABLED",
            "the maintainer API is disabled (admin_token is not set)",
        ));
    };
    if !bearer_ok(req, &admin_token) {
        return Err(ApiError::auth_invalid());
    }
    env.audit.actor("admin");
    Ok(())
}

/// Path, method and body size were checked by the router. Runs in the request's transaction:
/// the overrides and their audit record commit together.
pub(crate) fn run(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    // Named before the bearer is checked, so a refused maintainer call is recorded too.
    env.audit.action("settings.update");
    env.audit.object("identity_provider");
    authenticate(env, req)?;
    let changes = parse(&req.body)?;
    // The settings' names only: a value may be a secret (okta_api_token).
    let names = |set: bool| -> Vec<Value> {
        changes
            .iter()
            .filter(|(_, v)| v.is_some() == set)
            .map(|(n, _)| Value::String(n.clone()))
            .collect()
    };
    env.audit.detail("set", names(true));
    env.audit.detail("cleared", names(false));
    let master = config::master_key(env)?;

    // Validate the merged result before writing anything.
    let mut merged = config::IdpConfig::from_vars(env);
    let overrides = config::load_overrides(env, &master)?;
    for (name, value) in &overrides {
        if let Some(slot) = merged.slot(name) {
            *slot = value.clone();
        }
    }
    let vars = config::IdpConfig::from_vars(env);
    for (name, value) in &changes {
        let fallback = vars
            .clone()
            .slot(name)
            .map(|s| s.clone())
            .unwrap_or_default();
        if let Some(slot) = merged.slot(name) {
            *slot = match value {
                Some(v) => v.clone(),
                None => fallback,
            };
        }
    }
    merged
        .validate()
        .map_err(|e| ApiError::bad_request(format!("invalid configuration: {e}")))?;
    for (name, value) in &changes {
        config::write_override(env, &master, name, value.as_deref())?;
    }
    Ok(Response::json(200, &json!({ "configUpdated": true })))
}

/// The body: ≥ 1 known field, each a string (override) or null (drop the override).
fn parse(body: &[u8]) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("request body must be a JSON object"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut push = |name: &str, v: Option<String>| -> Result<(), ApiError> {
        if out.iter().any(|(n, _)| n == name) {
            return Err(ApiError::bad_request(format!(
                "{name} is given twice (directly and through an alias)"
            )));
        }
        if let Some(v) = &v {
            crate::limits::check(name, v, crate::limits::setting(name))?;
        }
        out.push((name.to_owned(), v));
        Ok(())
    };
    for (key, v) in obj {
        let v = match v {
            Value::Null => None,
            Value::String(s) => Some(s.trim().to_owned()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{} must be a string or null",
                    key.chars().take(64).collect::<String>()
                )));
            }
        };
        match key.as_str() {
            "secret_id" => {}
            "okta_url" => {
                let v = match v {
                    Some(org) if org.is_empty() => Some(String::new()),
                    Some(org) => {
                        if org.len() > 63
                            || !org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        {
                            return Err(ApiError::bad_request(
                                "okta_url must be an Okta org subdomain (letters, digits, '-')",
                            ));
                        }
                        Some(format!("https://{}.okta.com", org.to_ascii_lowercase()))
                    }
                    None => None,
                };
                push("okta_base_url", v)?;
            }
            "okta_token" => push("okta_api_token", v)?,
            k if IDP_SETTINGS.contains(&k) => push(k, v)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("give at least one setting"));
    }
    Ok(out)
}

/// `POST /guardian/revoke` `{"user": "<user id>"}`: ends every chain of the user, as the user's
/// own logout of all chains does. It only deletes tokens and lists chains as ended; it mints
/// none, so the maintainer cannot act as the user. Runs in the request's transaction with its
/// audit record.
pub(crate) fn revoke(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    // Named before the bearer is checked, so a refused maintainer call is recorded too.
    env.audit.action("token.revoke_user");
    // Without master_key the record cannot be keyed: answered before anything is ended.
    config::master_key(env)?;
    authenticate(env, req)?;
    let user = parse_revoke(&req.body)?;
    env.audit.object(&user);
    if !store::user_exists(env.db, &user)? {
        return Err(ApiError::new(404, "USER_NOT_FOUND", "no such user"));
    }
    let ended = store::end_user_chains(env.db, &user, env.now_ms)?;
    env.audit.detail("chains_ended", ended.chains);
    env.audit.detail("tokens_ended", ended.tokens);
    Ok(Response::json(
        200,
        &json!({ "user": user, "chains_ended": ended.chains, "tokens_ended": ended.tokens }),
    ))
}

/// The body: exactly `{"user": "<user id>"}`, a non-empty string of at most
/// [`limits::USER_ID`] bytes, taken as given (user ids are case-sensitive).
fn parse_revoke(body: &[u8]) -> Result<String, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("request body must be a JSON object"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    if let Some(other) = obj.keys().find(|k| k.as_str() != "user") {
        return Err(ApiError::bad_request(format!(
            "unknown field {:?}",
            other.chars().take(64).collect::<String>()
        )));
    }
    let user = match obj.get("user") {
        Some(Value::String(u)) if !u.is_empty() => u,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "give the user id to revoke as \"user\"",
            ));
        }
        Some(_) => return Err(ApiError::bad_request("user must be a string")),
    };
    limits::check("user", user, limits::USER_ID)?;
    Ok(user.clone())
}
