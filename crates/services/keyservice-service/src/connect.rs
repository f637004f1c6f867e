//! `POST /connect` (docs/keyservice.md, "Design: connect"), in the table's order.

use guest_kit::{Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::admin::valid_namespace;
use crate::crypto::{self, Keys, Purpose};
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult, respond};
use crate::init::check_size;
use crate::limits;
use crate::store::Store;
use crate::{Env, SMALL_BODY_LIMIT, auth, config, net};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    namespace: String,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "initTokenHash")]
    init_token_hash: String,
}

/// `/connect` never sends CORS headers: the Real Service is not a browser.
pub fn handle(env: &Env<'_>, req: &Request) -> Response {
    if req.path() != "/connect" {
        return ApiError::not_found().into_response();
    }
    if req.method != "POST" {
        return ApiError::method_not_allowed("POST").into_response();
    }
    respond(post(env, req))
}

/// Parses a JSON object body without echoing any of it back in the error.
/// Only an object will do: serde's derived structs also accept a JSON array
/// of the field values in order, which is not the documented body.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(match e.classify() {
            serde_json::error::Category::Data => {
                "request body has missing, unknown or mistyped fields"
            }
            _ => "request body is not valid JSON",
        })
    })
}

/// `userId`: 1–[`limits::USER_ID`] UTF-8 bytes, no control characters.
fn valid_user_id(s: &str) -> bool {
    (1..=limits::USER_ID).contains(&s.len()) && !s.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}')
}

fn post(env: &Env<'_>, req: &Request) -> ApiResult<Response> {
    // 1. size, before anything else.
    check_size(req, SMALL_BODY_LIMIT)?;
    let keys = Keys::load(env)?;
    let session_ttl = config::session_ttl_seconds(env)?;
    let store = Store::new(env.db);

    // 2. ss1 with keyid = namespace (unknown namespace fails at V6).
    let (namespace, cidrs_json) = auth::verify_ss1(env, &store, req, |keyid| {
        if !valid_namespace(keyid) {
            return Ok(None);
        }
        let Some((secret_ct, cidrs)) = store.namespace_auth(keyid)? else {
            return Ok(None);
        };
        let secret = keys.open_text(
            Purpose::NamespaceSecret,
            &secret_ct,
            &crypto::aad_namespace(keyid),
        )?;
        Ok(Some((secret, (keyid.to_owned(), cidrs))))
    })?;

    // 3. allow-list.
    let cidrs: Vec<String> = serde_json::from_str(&cidrs_json)
        .map_err(|_| ApiError::internal("ks_namespace.allowed_cidrs is not a JSON list"))?;
    if !cidrs.is_empty() {
        let header = config::client_addr_header(env);
        let addr =
            net::client_address(req, header.as_deref()).ok_or_else(ApiError::ip_not_allowed)?;
        let inside = cidrs
            .iter()
            .filter_map(|c| net::parse_cidr(c))
            .any(|c| c.contains(addr));
        if !inside {
            return Err(ApiError::ip_not_allowed());
        }
    }

    // 4.–7. body.
    let body: ConnectBody = parse_json(&req.body)?;
    if body.namespace != namespace {
        return Err(ApiError::namespace_mismatch());
    }
    if !valid_user_id(&body.user_id) {
        return Err(ApiError::bad_request(
            "userId must be 1-256 bytes of UTF-8 without control characters",
        ));
    }
    let digest = sessionist::decode_init_token_hash(&body.init_token_hash).ok_or_else(|| {
        ApiError::bad_request(
            "initTokenHash must be 88-char padded base64 or 86-char base64url of a SHA-512 digest",
        )
    })?;

    // 8. consume the init token, exactly once.
    let token_hash = crypto::init_token_row_key(&digest);
    let token_ct = store
        .consume_init_token(&token_hash, env.now_ms)?
        .ok_or_else(ApiError::init_token_invalid)?;
    let init_token = keys.open(
        Purpose::InitToken,
        &token_ct,
        &crypto::aad_init(&token_hash),
    )?;

    let session_token = crypto::new_token()?;
    let token_digest = crypto::sha256_hex(&session_token);
    let init_token_ct = keys.seal(
        Purpose::Session,
        &init_token,
        &crypto::aad_session(&token_digest),
    )?;
    store.insert_session(
        &token_digest,
        &namespace,
        &body.user_id,
        &init_token_ct,
        env.now_ms,
        env.now_ms.saturating_add(config::ms(session_ttl)),
    )?;
    if crypto::random_byte() < 16 {
        store.sweep_sessions(env.now_ms)?;
        store.sweep_init_tokens(env.now_ms)?;
    }
    Ok(
        Response::json(200, &json!({ "sessionToken": session_token.as_str() }))
            .with_header("cache-control", "no-store"),
    )
}
