//! docs/guardian.md, "Design: login": `POST /guardian` and `POST /guardian/login` (idempotent signup + login).
//! Identity is verified before any key exists.

use std::fmt;

use envelope::Keyring;
use guest_kit::audit::Transaction;
use guest_kit::{Request, Response};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::config::{self, IdpConfig};
use crate::error::Guardian as _;
use crate::error::{ApiError, db_err};
use crate::okta::Okta;
use crate::url::Url;
use crate::{Env, identity, keys, limits, oidc, ratelimit, store, tokens};

enum Credentials {
    Okta {
        username: String,
        password: Zeroizing<String>,
    },
    IdToken {
        token: String,
        /// The value the id_token's `nonce` claim answers (docs/guardian.md, "OpenID Connect").
        nonce: Option<String>,
    },
}

/// `POST /guardian` and `POST /guardian/login`; path, method and body size were checked by the
/// router. Recorded as one `user.login` (docs/OPERATIONS.md, "Audit trail"), in the transaction
/// [`login`] begins once the identity provider has answered, or, for a login refused before
/// that, on its own when the request ends.
pub(crate) fn run(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    // Without master_key no login can happen and none can be recorded (the chain's key derives
    // from it): answered 503 `NOT_CONFIGURED` unrecorded, as the signing routes' refusal for it
    // is rolled back unrecorded, rather than as a record that cannot be written.
    let master = config::master_key(env)?;
    env.audit.action("user.login");
    let tx = Transaction::new(env);
    let resp = login(env, req, &master, &tx).unwrap_or_else(ApiError::into_response);
    Ok(tx
        .finish(resp)
        .unwrap_or_else(|f| f.into_response(|e| db_err(&e))))
}

fn login(
    env: &Env<'_>,
    req: &Request,
    master: &Keyring,
    tx: &Transaction<'_, '_>,
) -> Result<Response, ApiError> {
    let (creds, get_address) = parse(&req.body)?;
    match &creds {
        Credentials::Okta { username, .. } => {
            env.audit.detail("method", "okta");
            // Who claims to log in, until the provider says who it is; never the password.
            env.audit
                .actor(&format!("username={}", username.to_lowercase()));
        }
        Credentials::IdToken { .. } => env.audit.detail("method", "oidc"),
    }
    let idp = config::effective_idp(env, master)?;
    idp.validate()
        .map_err(|e| ApiError::not_configured(format!("identity provider settings: {e}")))?;
    match &creds {
        Credentials::Okta { .. } if !idp.okta_enabled() => return Err(disabled("Okta")),
        Credentials::IdToken { .. } if !idp.oidc_enabled() => {
            return Err(disabled("OpenID Connect"));
        }
        _ => {}
    }

    // Rate limits before any identity-provider call (docs/guardian.md, "Design: login"): every
    // attempt counts against the client; failed identity checks against (username, client).
    let client = ratelimit::client_address(env, req)?;
    env.audit.client(&client);
    ratelimit::check_client(env, &client)?;
    let failures = match &creds {
        Credentials::Okta { username, .. } => ratelimit::Failures::before(env, username, &client)?,
        _ => ratelimit::Failures::none(),
    };

    let out = env
        .fetch
        .ok_or_else(|| ApiError::idp_unavailable("no outbound network"))?;
    // Identity first (docs/guardian.md, "Design: login"): nothing is written for an unverified caller.
    // Who vouches for the identity (docs/guardian.md, "User identity"), and when the user
    // authenticated if that was fresh and for guardian ("Design: export"): guardian itself ran
    // Okta's password and push check just now.
    let (user_id, oidc, provider, authenticated_at) = match &creds {
        Credentials::Okta { username, password } => {
            let user_id = failures.count(okta_identity(env, out, &idp, username, password))?;
            (user_id, None, identity::okta(&idp)?, Some(env.now_ms))
        }
        Credentials::IdToken { token, nonce } => {
            let id = oidc::verify_id_token(env, out, &idp, token, nonce.as_deref())?;
            let at = id.authenticated_at;
            (id.user_id.clone(), Some(id), identity::oidc(&idp)?, at)
        }
    };
    env.audit.actor(&tokens::actor(&user_id));

    // The provider has answered, and no call follows: everything from here on is one
    // transaction with the audit record. Housekeeping and the tables come first, outside it (a
    // failed statement inside a PostgreSQL transaction aborts it; `BEGIN` must come after any
    // schema creation).
    store::ensure_schema(env.db)?;
    // An invalid chain maximum is answered when the login token is minted; until then the
    // ended chains are only kept longer.
    let chain_max = config::TOKEN_CHAIN_MAX_SECONDS.read_ms(env).ok();
    let _ = store::purge_expired(env.db, env.now_ms, chain_max);
    tx.begin().map_err(|e| db_err(&e))?;
    if let Some(id) = &oidc {
        oidc::admit(env, &idp, id)?;
    }
    // Before the key is found or made: another provider's assertion never reaches a user.
    let bound = identity::bind(env, &user_id, &provider)?;
    let (address, created) = keys::find_or_create(env, master, &user_id)?;
    env.audit.object(&address);
    env.audit.detail("created", created);
    if bound && !created {
        // A user made before bindings existed, bound by this login ("User identity").
        env.audit.detail("provider_bound", true);
    }
    let token = tokens::mint_login(env, &user_id, authenticated_at)?;
    env.audit.detail("token_issued", store::token_id(&token));
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
    out: &dyn guest_kit::Fetch,
    idp: &IdpConfig,
    username: &str,
    password: &str,
) -> Result<String, ApiError> {
    let base = Url::parse(&idp.okta_base_url)
        .ok_or_else(|| ApiError::not_configured("okta_base_url is invalid"))?;
    let okta = Okta {
        out,
        clock: env.clock,
        base,
        poll_interval_ms: config::OKTA_POLL_INTERVAL_MS.read(env)?,
        mfa_timeout_ms: config::OKTA_MFA_TIMEOUT_SECONDS
            .read(env)?
            .saturating_mul(1000),
        deadline_ms: (env.clock.monotonic_ms()).saturating_add(crate::okta::LOGIN_BUDGET_MS),
    };
    let okta_id = okta.authenticate(username, password)?;
    let user_id = format!("okta:{okta_id}");
    // Known from here on, so a refusal by the group check names the user.
    env.audit.actor(&tokens::actor(&user_id));
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
    Ok(user_id)
}

/// One value of a login body, decoded without building anything but a string: arrays and
/// objects are skipped as they are read, so a body full of them costs no more than its bytes.
enum Field {
    Null,
    Bool(bool),
    Str(String),
    /// A number, array or object: wrong for every login field.
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Field, E> {
                Ok(Field::Null)
            }
            fn visit_none<E>(self) -> Result<Field, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Field, E> {
                Ok(Field::Bool(b))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field, E> {
                Ok(Field::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Field, E> {
                Ok(Field::Str(s))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Field, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Field, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// The login body's fields as sent (a repeated key: the last one wins, as before), and the
/// first unknown key, shortened for the error message.
#[derive(Default)]
struct LoginBody {
    okta_username: Option<Field>,
    okta_password: Option<Field>,
    id_token: Option<Field>,
    get_address: Option<Field>,
    nonce: Option<Field>,
    unknown: Option<String>,
}

impl<'de> Deserialize<'de> for LoginBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LoginBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LoginBody, A::Error> {
                let mut body = LoginBody::default();
                while let Some(key) = a.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "okta_username" => &mut body.okta_username,
                        "okta_password" => &mut body.okta_password,
                        "id_token" => &mut body.id_token,
                        "get_address" => &mut body.get_address,
                        "nonce" => &mut body.nonce,
                        _ => {
                            a.next_value::<IgnoredAny>()?;
                            if body.unknown.is_none() {
                                body.unknown = Some(key.chars().take(64).collect());
                            }
                            continue;
                        }
                    };
                    *slot = Some(a.next_value::<Field>()?);
                }
                Ok(body)
            }
        }
        d.deserialize_map(V)
    }
}

fn str_field(v: Option<Field>, name: &str) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Str(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

fn parse(body: &[u8]) -> Result<(Credentials, bool), ApiError> {
    // LoginBody asks for a map, so anything but an object (or bad JSON) fails here.
    let body: LoginBody = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("request body must be a JSON object"))?;
    if let Some(k) = &body.unknown {
        return Err(ApiError::bad_request(format!("unknown field {k:?}")));
    }
    let get_address = match body.get_address {
        None | Some(Field::Null) => false,
        Some(Field::Bool(b)) => b,
        Some(_) => return Err(ApiError::bad_request("get_address must be a boolean")),
    };
    let username = str_field(body.okta_username, "okta_username")?;
    let password = str_field(body.okta_password, "okta_password")?.map(Zeroizing::new);
    let id_token = str_field(body.id_token, "id_token")?;
    let nonce = str_field(body.nonce, "nonce")?;
    if let Some(n) = &nonce {
        limits::check("nonce", n, limits::NONCE)?;
        if n.is_empty() {
            return Err(ApiError::bad_request("nonce must be non-empty"));
        }
    }
    if let Some(u) = &username {
        limits::check("okta_username", u, limits::OKTA_USERNAME)?;
    }
    if let Some(p) = &password {
        limits::check("okta_password", p, limits::OKTA_PASSWORD)?;
    }
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
        (false, Some(token)) => Credentials::IdToken { token, nonce },
        (true, None) if nonce.is_some() => {
            return Err(ApiError::bad_request(
                "nonce goes with id_token only: an Okta login needs none",
            ));
        }
        (true, None) => {
            let (Some(username), Some(password)) = (username, password) else {
                return Err(ApiError::bad_request(
                    "okta_username and okta_password are both required",
                ));
            };
            if username.is_empty() || password.is_empty() {
                return Err(ApiError::bad_request(
                    "okta_username and okta_password must be non-empty",
                ));
            }
            Credentials::Okta { username, password }
        }
    };
    Ok((creds, get_address))
}
