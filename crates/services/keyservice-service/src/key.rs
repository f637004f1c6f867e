//! `/key` (docs/keyservice.md, "Design: the key routes"): the (namespace, userId) pair comes only from
//! the authenticated session, never from the request.

use guest_kit::{Request, Response};

use crate::crypto::{self, Keys, Purpose};
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::limits;
use crate::store::Store;
use crate::{Env, SMALL_BODY_LIMIT, auth, config};

const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A `PUT` body may be a key (up to the `max_key_bytes` variable); other methods take the small
/// limit.
pub(crate) fn body_limit(env: &Env<'_>, req: &Request) -> ApiResult<usize> {
    if req.method == "PUT" {
        config::max_key_bytes(env)
    } else {
        Ok(SMALL_BODY_LIMIT)
    }
}

/// `Content-Type` to store: ≤ 255 printable ASCII characters (spaces allowed
/// inside, as in `text/plain; charset=utf-8`), absent → octet-stream.
fn content_type(req: &Request) -> ApiResult<String> {
    let invalid = || ApiError::bad_request("Content-Type must be 1-255 printable ASCII characters");
    match req.header_count("content-type") {
        0 => Ok(DEFAULT_CONTENT_TYPE.to_owned()),
        1 => {
            let value = req.header("content-type").ok_or_else(invalid)?;
            let ok = (1..=limits::CONTENT_TYPE).contains(&value.len())
                && value.iter().all(|b| (0x20..=0x7e).contains(b))
                && value.first() != Some(&b' ')
                && value.last() != Some(&b' ');
            if !ok {
                return Err(invalid());
            }
            String::from_utf8(value.to_vec()).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

struct Session {
    digest: String,
    namespace: String,
    user_id: String,
}

/// `GET`, `PUT` and `DELETE /key`; path, method and body size were checked by the router.
pub(crate) fn authenticated(env: &Env<'_>, req: &Request) -> ApiResult<Response> {
    env.audit.action(match req.method.as_str() {
        "PUT" => "key.store",
        "GET" => "key.read",
        _ => "key.delete",
    });
    let keys = Keys::load(env)?;
    let idle_ms = config::ms(config::session_idle_seconds(env)?);
    let store = Store::new(env.db);
    let now = env.now_ms;

    // V6: keyid = session token, secret = the init token bound to it. An
    // unknown, expired or idle-expired session is an unknown keyid.
    let (session, _) = auth::verify_ss1(env, &store, req, |keyid| {
        let digest = crypto::sha256_hex(keyid);
        let Some(row) = store.session(&digest)? else {
            return Ok(None);
        };
        if row.expires_at <= now || (idle_ms > 0 && now.saturating_sub(row.last_used_at) > idle_ms)
        {
            return Ok(None);
        }
        let secret = keys.open_text(
            Purpose::Session,
            &row.init_token_ct,
            &crypto::aad_session(&digest),
        )?;
        Ok(Some((
            vec![secret],
            Session {
                digest,
                namespace: row.namespace,
                user_id: row.user_id,
            },
        )))
    })?;
    env.audit.actor(&format!(
        "namespace={} user={}",
        session.namespace, session.user_id
    ));
    env.audit.object("key");
    // Any authenticated call keeps the session alive (idle timeout).
    store.touch_session(&session.digest, now)?;

    let aad = crypto::aad_value(&session.namespace, &session.user_id);
    match req.method.as_str() {
        "PUT" => {
            if req.body.is_empty() {
                return Err(ApiError::bad_request("PUT /key needs a non-empty body"));
            }
            let content_type = content_type(req)?;
            let value_ct = keys.seal(Purpose::Value, &req.body, &aad)?;
            store.put_key(
                &session.namespace,
                &session.user_id,
                &value_ct,
                &content_type,
                now,
            )?;
            Ok(Response::new(204))
        }
        "GET" => {
            expect_empty(req)?;
            let (value_ct, content_type) = store
                .get_key(&session.namespace, &session.user_id)?
                .ok_or_else(ApiError::key_not_found)?;
            let value = keys.open(Purpose::Value, &value_ct, &aad)?;
            Ok(Response::new(200)
                .with_header("content-type", &content_type)
                .with_header("cache-control", "no-store")
                .with_body(value.to_vec()))
        }
        _ => {
            expect_empty(req)?;
            store.delete_key(&session.namespace, &session.user_id)?;
            env.audit.erased();
            Ok(Response::new(204))
        }
    }
}

fn expect_empty(req: &Request) -> ApiResult<()> {
    if req.body.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request("this method takes no request body"))
    }
}
