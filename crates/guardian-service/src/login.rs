//! guardian.md §4: `POST /guardian` and `POST /guardian/login` (idempotent signup + login).
//! Identity is verified before any key exists.

use guest_kit::{Request, Response};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::config::{self, IdpConfig};
use crate::error::ApiError;
use crate::okta::Okta;
use crate::url::Url;
use crate::{Env, OPENAPI_JSON, OPENAPI_PATH, keys, oidc, ratelimit, store, tokens};

enum Credentials {
    Okta {
        username: String,
        password: Zeroizing<String>,
    },
    IdToken(String),
}

pub fn handle(env: &Env<'_>, req: &Request) -> Response {
    match run(env, req) {
        Ok(resp) => resp,
        Err(e) => e.into_response(None),
    }
}

fn run(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    match req.path() {
        "/guardian" | "/guardian/login" => {}
        p if p == OPENAPI_PATH => {
            if req.method != "GET" {
                return Err(ApiError::method_not_allowed("GET"));
            }
            return Ok(Response::new(200)
                .with_header("content-type", "application/json")
                .with_body(OPENAPI_JSON.as_bytes().to_vec()));
        }
        _ => return Err(ApiError::not_found()),
    }
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let limit = config::max_body_bytes(env);
    if req.check_body_size(limit).is_err() {
        return Err(ApiError::too_large(limit));
    }
    let (creds, get_address) = parse(&req.body)?;
    let master = config::master_key(env)?;
    let idp = config::effective_idp(env, &master)?;
    idp.validate()
        .map_err(|e| ApiError::not_configured(format!("identity provider settings: {e}")))?;
    match &creds {
        Credentials::Okta { .. } if !idp.okta_enabled() => return Err(disabled("Okta")),
        Credentials::IdToken(_) if !idp.oidc_enabled() => return Err(disabled("OpenID Connect")),
        _ => {}
    }

    // Rate limits before any identity-provider call.
    let client = client_address(req);
    ratelimit::check(
        env.kv,
        "ip",
        &client,
        config::num(env, "login_rate_limit_per_minute", 20),
        env.now_ms,
    )?;
    if let Credentials::Okta { username, .. } = &creds {
        ratelimit::check(
            env.kv,
            "user",
            &username.to_lowercase(),
            config::num(env, "login_user_rate_limit_per_minute", 10),
            env.now_ms,
        )?;
    }

    let out = env
        .outbound
        .ok_or_else(|| ApiError::idp_unavailable("no outbound network"))?;
    // Identity first (§4): nothing is written for an unverified caller.
    let user_id = match &creds {
        Credentials::Okta { username, password } => {
            okta_identity(env, out, &idp, username, password)?
        }
        Credentials::IdToken(t) => oidc::verify_id_token(env, out, &idp, t)?,
    };

    store::ensure_schema(env.db)?;
    let _ = store::purge_expired(env.db, env.now_ms);
    let (address, created) = keys::find_or_create(env, &master, &user_id)?;
    let token = tokens::mint_login(env, &user_id)?;
    let mut body = json!({ "client_token": token, "created": created });
    if (created || get_address)
        && let Some(obj) = body.as_object_mut()
    {
        obj.insert("address".into(), Value::String(address));
    }
    Ok(Response::json(200, &body))
}

fn disabled(method: &str) -> ApiError {
    ApiError::new(
        400,
        "LOGIN_METHOD_DISABLED",
        format!("{method} login is not configured"),
    )
}

fn okta_identity(
    env: &Env<'_>,
    out: &dyn crate::Outbound,
    idp: &IdpConfig,
    username: &str,
    password: &str,
) -> Result<String, ApiError> {
    let base = Url::parse(&idp.okta_base_url)
        .ok_or_else(|| ApiError::not_configured("okta_base_url is invalid"))?;
    let okta = Okta {
        out,
        base,
        poll_interval_ms: config::num(env, "okta_poll_interval_ms", 500),
        mfa_timeout_ms: config::num(env, "okta_mfa_timeout_seconds", 60).saturating_mul(1000),
    };
    let okta_id = okta.authenticate(username, password)?;
    if !idp.okta_group.is_empty() {
        if idp.okta_api_token.is_empty() {
            return Err(ApiError::not_configured(
                "okta_group is set without okta_api_token",
            ));
        }
        if !okta.in_group(&okta_id, &idp.okta_api_token, &idp.okta_group)? {
            return Err(ApiError::new(
                403,
                "USER_NOT_IN_ORG",
                "the account is not in the organisation's group",
            ));
        }
    }
    Ok(format!("okta:{okta_id}"))
}

fn str_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

fn parse(body: &[u8]) -> Result<(Credentials, bool), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("request body must be a JSON object"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    const ALLOWED: &[&str] = &["okta_username", "okta_password", "id_token", "get_address"];
    if let Some(k) = obj.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        let shown: String = k.chars().take(64).collect();
        return Err(ApiError::bad_request(format!("unknown field {shown:?}")));
    }
    let get_address = match obj.get("get_address") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("get_address must be a boolean")),
    };
    let username = str_field(obj, "okta_username")?;
    let password = str_field(obj, "okta_password")?.map(Zeroizing::new);
    let id_token = str_field(obj, "id_token")?;
    let okta = username.is_some() || password.is_some();
    let creds = match (okta, id_token) {
        (true, Some(_)) => {
            return Err(ApiError::bad_request(
                "give either okta_username/okta_password or id_token, not both",
            ));
        }
        (false, None) => {
            return Err(ApiError::bad_request(
                "give okta_username and okta_password, or id_token",
            ));
        }
        (false, Some(t)) => Credentials::IdToken(t),
        (true, None) => {
            let (Some(username), Some(password)) = (username, password) else {
                return Err(ApiError::bad_request(
                    "okta_username and okta_password are both required",
                ));
            };
            if username.is_empty() || password.is_empty() || username.len() > 256 {
                return Err(ApiError::bad_request(
                    "okta_username and okta_password must be non-empty",
                ));
            }
            Credentials::Okta { username, password }
        }
    };
    Ok((creds, get_address))
}

/// The caller's address as the platform reports it (`spin-client-addr`, set by the host; a
/// client cannot forge it), without the port.
fn client_address(req: &Request) -> String {
    let raw = req.header_str("spin-client-addr").unwrap_or("").trim();
    if let Some(v6) = raw.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_owned();
    }
    match raw.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_owned(),
        _ => raw.to_owned(),
    }
}
