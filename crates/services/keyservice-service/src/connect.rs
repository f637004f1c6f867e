//! `POST /connect` (docs/keyservice.md, "Design: connect"), in the table's order.

use guest_kit::{Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::body::parse_json;
use crate::crypto::{self, Keys, Purpose};
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::limits::{valid_namespace, valid_user_id};
use crate::store::Store;
use crate::{Env, auth, config, net};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    namespace: String,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "initTokenHash")]
    init_token_hash: String,
}

/// `/connect` never sends CORS headers: the Real Service is not a browser. Step 1 (the size,
/// before anything else) is the router's.
pub(crate) fn post(env: &Env<'_>, req: &Request) -> ApiResult<Response> {
    env.audit.action("session.connect");
    let keys = Keys::load(env)?;
    let store = Store::new(env.db);

    // 2. ss1 with keyid = namespace (unknown namespace fails at V6); during a rotation's overlap
    // the secret it replaced is accepted too.
    let now = env.now_ms;
    let ((namespace, cidrs_json), matched) = auth::verify_ss1(env, &store, req, |keyid| {
        if !valid_namespace(keyid) {
            return Ok(None);
        }
        let Some(row) = store.namespace_auth(keyid)? else {
            return Ok(None);
        };
        let mut secrets = vec![keys.open_text(
            Purpose::NamespaceSecret,
            &row.secret_ct,
            &crypto::aad_namespace(keyid),
        )?];
        match row.previous {
            Some((ct, expires_at)) if now < expires_at => secrets.push(keys.open_text(
                Purpose::NamespaceSecret,
                &ct,
                &crypto::aad_namespace_previous(keyid, expires_at),
            )?),
            // Past its window the old secret leaves storage with the first /connect that
            // meets it.
            Some(_) => store.drop_previous_secret(keyid, Some(now))?,
            None => {}
        }
        Ok(Some((secrets, (keyid.to_owned(), row.allowed_cidrs_json))))
    })?;
    if matched > 0 {
        // The operator sees which Real Services still sign with the old secret.
        env.audit.detail("secret", "previous");
    }

    env.audit.actor(&format!("namespace={namespace}"));
    // 3. allow-list.
    check_allow_list(env, req, &cidrs_json)?;

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

    env.audit
        .actor(&format!("namespace={namespace} user={}", body.user_id));
    // 8. consume the init token, exactly once.
    let token_hash = crypto::init_token_row_key(&digest);
    env.audit.object(&format!(
        "init_token:{}",
        token_hash.get(..16).unwrap_or_default()
    ));
    let token_ct = store
        .consume_init_token(&token_hash, env.now_ms)?
        .ok_or_else(ApiError::init_token_invalid)?;
    let init_token = keys.open(
        Purpose::InitToken,
        &token_ct,
        &crypto::aad_init(&token_hash),
    )?;

    let session_token = open_session(env, &store, &keys, &namespace, &body.user_id, &init_token)?;
    Ok(
        Response::json(200, &json!({ "sessionToken": session_token.as_str() }))
            .with_header("cache-control", "no-store"),
    )
}

/// A namespace with an allow-list accepts `/connect` only from an address inside it.
fn check_allow_list(env: &Env<'_>, req: &Request, cidrs_json: &str) -> ApiResult<()> {
    let cidrs: Vec<String> = serde_json::from_str(cidrs_json)
        .map_err(|_| ApiError::internal("ks_namespace.allowed_cidrs is not a JSON list"))?;
    if cidrs.is_empty() {
        return Ok(());
    }
    let header = config::client_addr_header(env);
    let addr = net::client_address(req, header.as_deref()).ok_or_else(ApiError::ip_not_allowed)?;
    let inside = cidrs
        .iter()
        .filter_map(|c| net::parse_cidr(c))
        .any(|c| c.contains(addr));
    if inside {
        Ok(())
    } else {
        Err(ApiError::ip_not_allowed())
    }
}

/// Stores a new session bound to the consumed init token (sealed under the session's digest)
/// and returns its token; now and then sweeps expired sessions and init tokens.
fn open_session(
    env: &Env<'_>,
    store: &Store<'_>,
    keys: &Keys,
    namespace: &str,
    user_id: &str,
    init_token: &[u8],
) -> ApiResult<zeroize::Zeroizing<String>> {
    let session_ttl = config::session_ttl_seconds(env)?;
    let session_token = crypto::new_token()?;
    let token_digest = crypto::sha256_hex(&session_token);
    let init_token_ct = keys.seal(
        Purpose::Session,
        init_token,
        &crypto::aad_session(&token_digest),
    )?;
    store.insert_session(
        &token_digest,
        namespace,
        user_id,
        &init_token_ct,
        env.now_ms,
        env.now_ms.saturating_add(config::ms(session_ttl)),
    )?;
    if crypto::random_byte() < 16 {
        store.sweep_sessions(env.now_ms)?;
        store.sweep_init_tokens(env.now_ms)?;
    }
    Ok(session_token)
}
