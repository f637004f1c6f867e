//! The operator's session routes (docs/keyservice.md, "Design: revoking sessions"): list a
//! user's sessions, revoke one, all of a user's, or all of a namespace's. Revoking deletes the
//! session's row, and `/key` looks the row up on every request, so it takes effect on every host
//! at once.
//!
//! A session is shown by its id, the first [`SESSION_ID_LEN`] hex digits of its row key
//! (`hex(SHA-256(session token))`): enough to tell a user's sessions apart, useless for signing,
//! and never the token or the init token bound to it.

use guest_kit::Response;
use serde_json::json;

use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::limits::{valid_namespace, valid_user_id};
use crate::store::{SessionInfo, Store};
use crate::{Env, config, time};

/// Hex digits of a session id.
pub(crate) const SESSION_ID_LEN: usize = 16;

fn session_id(info: &SessionInfo) -> &str {
    info.token_digest
        .get(..SESSION_ID_LEN)
        .unwrap_or(&info.token_digest)
}

/// A namespace that exists, else 404.
fn namespace(store: &Store<'_>, ns: &str) -> ApiResult<()> {
    if valid_namespace(ns) && store.namespace_secret(ns)?.is_some() {
        Ok(())
    } else {
        Err(ApiError::namespace_not_found())
    }
}

/// A user keyservice knows in the namespace: one with a session row or a stored key (there is
/// no user table). Returns their session rows. A user id that no `/connect` could have accepted
/// is unknown too, as an invalid namespace is in a path.
fn user(env: &Env<'_>, store: &Store<'_>, ns: &str, user: &str) -> ApiResult<Vec<SessionInfo>> {
    namespace(store, ns)?;
    if !valid_user_id(user) {
        return Err(ApiError::user_not_found());
    }
    env.audit.object(&format!("namespace={ns} user={user}"));
    let sessions = store.user_sessions(ns, user)?;
    if sessions.is_empty() && !store.has_key(ns, user)? {
        return Err(ApiError::user_not_found());
    }
    Ok(sessions)
}

/// `GET …/users/{user}/sessions`: the sessions that can still sign `/key` (not past
/// `session_ttl_seconds`, nor idle past `session_idle_seconds`), oldest first.
pub(crate) fn list(env: &Env<'_>, store: &Store<'_>, ns: &str, uid: &str) -> ApiResult<Response> {
    let mut sessions = user(env, store, ns, uid)?;
    let idle_ms = config::ms(config::session_idle_seconds(env)?);
    let now = env.now_ms;
    sessions.retain(|s| {
        s.expires_at > now && (idle_ms == 0 || now.saturating_sub(s.last_used_at) <= idle_ms)
    });
    sessions.sort_by(|a, b| (a.created_at, session_id(a)).cmp(&(b.created_at, session_id(b))));
    env.audit.detail("sessions", sessions.len());
    let items: Vec<_> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": session_id(s),
                "created_at": time::rfc3339(s.created_at),
                "expires_at": time::rfc3339(s.expires_at),
                "last_used_at": time::rfc3339(s.last_used_at),
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &json!({ "namespace": ns, "user_id": uid, "sessions": items }),
    ))
}

/// `DELETE …/users/{user}/sessions/{id}`: the session (live or expired but not yet swept) whose
/// id is `id`, in either case of hex.
pub(crate) fn revoke_one(
    env: &Env<'_>,
    store: &Store<'_>,
    ns: &str,
    uid: &str,
    id: &str,
) -> ApiResult<Response> {
    let sessions = user(env, store, ns, uid)?;
    let id = id.to_ascii_lowercase();
    let well_formed = id.len() == SESSION_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(ApiError::session_not_found());
    }
    env.audit.detail("session", id.as_str());
    // Two sessions of one user sharing 64 bits of a SHA-256 would both be listed under this
    // id; both go.
    let mut revoked = false;
    for s in sessions.iter().filter(|s| session_id(s) == id) {
        revoked |= store.delete_session(ns, uid, &s.token_digest)?;
    }
    if revoked {
        Ok(Response::new(204))
    } else {
        Err(ApiError::session_not_found())
    }
}

/// `DELETE …/users/{user}/sessions`: every session of the user; their stored key stays.
pub(crate) fn revoke_user(
    env: &Env<'_>,
    store: &Store<'_>,
    ns: &str,
    uid: &str,
) -> ApiResult<Response> {
    user(env, store, ns, uid)?;
    let revoked = store.delete_sessions(ns, Some(uid))?;
    env.audit.detail("revoked", revoked);
    Ok(Response::json(
        200,
        &json!({ "namespace": ns, "user_id": uid, "revoked": revoked }),
    ))
}

/// `DELETE /admin/namespaces/{ns}/users/{user}`: erases one user of the namespace, their stored
/// key and every session, in one call (docs/OPERATIONS.md, "Erasure"). The namespace and its
/// other users are untouched.
pub(crate) fn erase_user(
    env: &Env<'_>,
    store: &Store<'_>,
    ns: &str,
    uid: &str,
) -> ApiResult<Response> {
    user(env, store, ns, uid)?;
    let sessions = store.delete_sessions(ns, Some(uid))?;
    let key = store.delete_key(ns, uid)?;
    env.audit.detail("sessions", sessions);
    env.audit.detail("key", key);
    env.audit.erased();
    Ok(Response::json(
        200,
        &json!({ "namespace": ns, "user_id": uid, "sessions_revoked": sessions, "key_erased": key }),
    ))
}

/// `DELETE /admin/namespaces/{ns}/sessions`: every session of the namespace; the secret and the
/// stored keys stay.
pub(crate) fn revoke_namespace(env: &Env<'_>, store: &Store<'_>, ns: &str) -> ApiResult<Response> {
    namespace(store, ns)?;
    let revoked = store.delete_sessions(ns, None)?;
    env.audit.detail("revoked", revoked);
    Ok(Response::json(
        200,
        &json!({ "namespace": ns, "revoked": revoked }),
    ))
}
