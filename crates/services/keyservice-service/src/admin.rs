//! Operator API (docs/keyservice.md, "Design: operator API"), `Authorization: Bearer <admin_token>`.

use guest_kit::router::Params;
use guest_kit::{Request, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::body::parse_json;
use crate::crypto::{self, Keys, Purpose};
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::{Env, config, net, revocation, time};

use crate::limits::{self, valid_namespace};

/// The operator operations, as keyservice's route table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    List,
    Create,
    Delete,
    SetCidrs,
    Rotate,
    ListSessions,
    RevokeSession,
    RevokeUser,
    RevokeNamespace,
    EraseUser,
}

/// While `admin_token` is unset the operator API answers 403 to everything, before routing.
pub(crate) fn enabled(env: &Env<'_>) -> ApiResult<zeroize::Zeroizing<String>> {
    config::admin_token(env).ok_or_else(ApiError::admin_disabled)
}

/// Order: disabled (403, whatever is sent) → route (404/405) → size (413, before
/// authentication): all three before this; then bearer (401) → operation. The namespace is the
/// path segment exactly as received; a user id is the router's percent-decoded segment.
pub(crate) fn operate(
    env: &Env<'_>,
    req: &Request,
    op: Op,
    params: &Params,
) -> ApiResult<Response> {
    let namespace = params.get("namespace").unwrap_or_default();
    env.audit.action(match op {
        Op::List => "namespace.list",
        Op::Create => "namespace.create",
        Op::Delete => "namespace.delete",
        Op::SetCidrs => "namespace.set_cidrs",
        Op::Rotate => "namespace.rotate_secret",
        Op::ListSessions => "session.list",
        Op::RevokeSession => "session.revoke",
        Op::RevokeUser => "session.revoke_user",
        Op::RevokeNamespace => "session.revoke_namespace",
        Op::EraseUser => "user.erase",
    });
    env.audit.object(namespace);
    check_bearer(req, &enabled(env)?)?;
    env.audit.actor("admin");
    let store = Store::new(env.db);
    let user = || params.get("user").unwrap_or_default();
    match op {
        Op::List => list(&store),
        Op::Create => create(env, &store, req),
        Op::Delete => delete(&store, namespace),
        Op::SetCidrs => set_cidrs(&store, req, namespace),
        Op::Rotate => rotate(env, &store, req, namespace),
        Op::ListSessions => revocation::list(env, &store, namespace, user()),
        Op::RevokeSession => {
            let id = params.get("session").unwrap_or_default();
            revocation::revoke_one(env, &store, namespace, user(), id)
        }
        Op::RevokeUser => revocation::revoke_user(env, &store, namespace, user()),
        Op::RevokeNamespace => revocation::revoke_namespace(env, &store, namespace),
        Op::EraseUser => revocation::erase_user(env, &store, namespace, user()),
    }
}

/// Compares SHA-256 digests in constant time, so neither the token's length
/// nor a matching prefix leaks through timing.
fn check_bearer(req: &Request, admin_token: &str) -> ApiResult<()> {
    if req.header_count("authorization") != 1 {
        return Err(ApiError::bearer_invalid());
    }
    let value = req.header("authorization").unwrap_or_default();
    let token = value
        .split_at_checked(7)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|(_, rest)| rest.trim_ascii())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::bearer_invalid)?;
    let given = crypto::sha256(token);
    let expected = crypto::sha256(admin_token.as_bytes());
    if bool::from(given.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ApiError::bearer_invalid())
    }
}

/// Validates and normalises an allow-list; returns it and its JSON text.
fn normalise_cidrs(list: &[String]) -> ApiResult<(Vec<String>, String)> {
    if list.len() > limits::CIDRS {
        return Err(ApiError::bad_request(format!(
            "allowed_cidrs has more than {} entries",
            limits::CIDRS
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for entry in list {
        let cidr = net::parse_cidr(entry).ok_or_else(|| {
            ApiError::bad_request("allowed_cidrs entries must be IPv4/IPv6 addresses or CIDRs")
        })?;
        let s = cidr.to_string();
        // Duplicates after normalisation add nothing.
        if !out.contains(&s) {
            out.push(s);
        }
    }
    let json = serde_json::to_string(&out).map_err(|_| ApiError::internal("json"))?;
    Ok((out, json))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    namespace: String,
    allowed_cidrs: Option<Vec<String>>,
}

fn create(env: &Env<'_>, store: &Store<'_>, req: &Request) -> ApiResult<Response> {
    let body: CreateBody = parse_json(&req.body)?;
    if !valid_namespace(&body.namespace) {
        return Err(ApiError::bad_request(
            "namespace must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        ));
    }
    env.audit.object(&body.namespace);
    let (cidrs, cidrs_json) = normalise_cidrs(body.allowed_cidrs.as_deref().unwrap_or_default())?;
    let keys = Keys::load(env)?;
    let secret = crypto::new_token()?;
    let secret_ct = keys.seal(
        Purpose::NamespaceSecret,
        secret.as_bytes(),
        &crypto::aad_namespace(&body.namespace),
    )?;
    if !store.create_namespace(&body.namespace, &secret_ct, &cidrs_json, env.now_ms)? {
        return Err(ApiError::namespace_exists());
    }
    Ok(Response::json(
        201,
        &json!({
            "namespace": body.namespace,
            "secret": secret.as_str(),
            "allowed_cidrs": cidrs,
        }),
    )
    .with_header("cache-control", "no-store"))
}

fn list(store: &Store<'_>) -> ApiResult<Response> {
    let mut rows = store.list_namespaces()?;
    rows.sort_by(|a, b| a.namespace.as_bytes().cmp(b.namespace.as_bytes()));
    let items = rows
        .iter()
        .map(|r| {
            let cidrs: Vec<String> = serde_json::from_str(&r.allowed_cidrs_json)
                .map_err(|_| ApiError::internal("ks_namespace.allowed_cidrs is not a JSON list"))?;
            Ok(json!({
                "namespace": r.namespace,
                "allowed_cidrs": cidrs,
                "created_at": time::rfc3339(r.created_at),
                "secret_rotated_at": r.secret_rotated_at.map(time::rfc3339),
            }))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Response::json(200, &json!({ "namespaces": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CidrsBody {
    allowed_cidrs: Vec<String>,
}

fn set_cidrs(store: &Store<'_>, req: &Request, ns: &str) -> ApiResult<Response> {
    let body: CidrsBody = parse_json(&req.body)?;
    let (cidrs, json_text) = normalise_cidrs(&body.allowed_cidrs)?;
    if !valid_namespace(ns) || !store.set_allowed_cidrs(ns, &json_text)? {
        return Err(ApiError::namespace_not_found());
    }
    Ok(Response::json(
        200,
        &json!({ "namespace": ns, "allowed_cidrs": cidrs }),
    ))
}

/// The longest overlap a rotation may keep the old secret for: long enough for a Real Service's
/// slowest deployment, short enough that a leaked secret does not stay useful for weeks.
pub(crate) const MAX_OVERLAP_SECONDS: u64 = 7 * 86_400;

/// `POST …/rotate-secret`'s optional body; an empty body is `{}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// Taken as any JSON value, so that a negative, fractional or too large number gets a
    /// message naming the bound rather than serde's generic one.
    overlap_seconds: Option<serde_json::Value>,
    revoke_sessions: Option<bool>,
}

/// The overlap in seconds and whether to revoke the sessions.
fn rotate_options(body: &[u8]) -> ApiResult<(u64, bool)> {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_json(body)?
    };
    let overlap = match &body.overlap_seconds {
        None => 0,
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= MAX_OVERLAP_SECONDS)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "overlap_seconds must be a whole number of seconds from 0 to \
                     {MAX_OVERLAP_SECONDS} (7 days); 0 or no body ends the old secret at once"
                ))
            })?,
    };
    Ok((overlap, body.revoke_sessions.unwrap_or(false)))
}

/// docs/keyservice.md, "Design: rotating a namespace secret": a new secret; the one it replaces
/// stays valid for `overlap_seconds` (sealed as a previous secret), or stops at once.
fn rotate(env: &Env<'_>, store: &Store<'_>, req: &Request, ns: &str) -> ApiResult<Response> {
    let (overlap, revoke_sessions) = rotate_options(&req.body)?;
    env.audit.detail("overlap_seconds", overlap);
    env.audit.detail("revoke_sessions", revoke_sessions);
    if !valid_namespace(ns) {
        return Err(ApiError::namespace_not_found());
    }
    let keys = Keys::load(env)?;
    let old_ct = store
        .namespace_secret(ns)?
        .ok_or_else(ApiError::namespace_not_found)?;
    let secret = crypto::new_token()?;
    let secret_ct = keys.seal(
        Purpose::NamespaceSecret,
        secret.as_bytes(),
        &crypto::aad_namespace(ns),
    )?;
    let now = env.now_ms;
    if !store.rotate_secret(ns, &old_ct, &secret_ct, now)? {
        return Err(match store.namespace_secret(ns)? {
            Some(_) => ApiError::rotation_conflict(),
            None => ApiError::namespace_not_found(),
        });
    }
    // Only the secret just replaced is kept: a rotation during an overlap ends the earlier one.
    let previous_expires_at = if overlap > 0 {
        let old = keys.open_text(
            Purpose::NamespaceSecret,
            &old_ct,
            &crypto::aad_namespace(ns),
        )?;
        let expires_at = now.saturating_add(config::ms(overlap));
        let previous_ct = keys.seal(
            Purpose::NamespaceSecret,
            old.as_bytes(),
            &crypto::aad_namespace_previous(ns, expires_at),
        )?;
        store.set_previous_secret(ns, &previous_ct, expires_at)?;
        Some(expires_at)
    } else {
        store.drop_previous_secret(ns, None)?;
        None
    };
    let revoked = if revoke_sessions {
        let n = store.delete_sessions(ns, None)?;
        env.audit.detail("sessions_revoked", n);
        n
    } else {
        0
    };
    Ok(Response::json(
        200,
        &json!({
            "namespace": ns,
            "secret": secret.as_str(),
            "previous_secret_expires_at": previous_expires_at.map(time::rfc3339),
            "sessions_revoked": revoked,
        }),
    )
    .with_header("cache-control", "no-store"))
}

fn delete(store: &Store<'_>, ns: &str) -> ApiResult<Response> {
    if !valid_namespace(ns) || !store.delete_namespace(ns)? {
        return Err(ApiError::namespace_not_found());
    }
    Ok(Response::new(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(valid_namespace("my_cool_website"));
        assert!(valid_namespace("a"));
        assert!(valid_namespace(&format!("a{}", "b".repeat(63))));
        assert!(!valid_namespace(&format!("a{}", "b".repeat(64))));
        for bad in ["", "_a", "a|b", "a b", "ä", ".a", "a/b"] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }
}
