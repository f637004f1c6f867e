//! Signing policies, the service's part (docs/guardian.md, "Design: signing policies"): the
//! stored documents (`gd_policy`), the rolling period's events under a per-user lock
//! (`gd_policy_lock`, `gd_policy_event`), and the maintainer's routes (`guardian-admin`):
//! `GET|PUT|DELETE /guardian/policy` (the deployment's document) and
//! `GET|PUT|DELETE /guardian/policy/user?user=<user id>` (one user's, which replaces the
//! deployment's for that user).
//!
//! A signing route calls [`check`] once, after its request is parsed and before any key is
//! opened, and [`Permit::record`] once the signature exists:
//!
//! ```ignore
//! let permit = policy::check(env, user_id, &Intent::Transaction { chain_id, to, value })?;
//! let key = /* open the key */;
//! let signed = /* sign */;
//! permit.record(env)?;
//! ```
//!
//! Both run in the request's transaction, so a refusal (403) keeps the consumed token as every
//! 4xx does, and a signature that fails with a 5xx rolls its event back.

use guardian_core::U256;
use guardian_core::policy::Policy;
use guest_kit::http::form_decode;
use guest_kit::{Request, Response, Value as Sql};
use serde_json::{Value, json};

use crate::error::Guardian as _;
use crate::error::{ApiError, db_err};
use crate::{Env, admin, config, limits};

pub use guardian_core::policy::Intent;

/// The deployment's document's key in `gd_policy`; a user's is `user:<user id>`.
const DEPLOYMENT: &str = "deployment";

fn user_scope(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// What a signature may go on to do once [`check`] allowed it.
#[must_use = "record the signature once it is made (Permit::record)"]
#[derive(Debug)]
pub struct Permit {
    /// The user and the value to count, when a rolling period applies.
    event: Option<(String, U256)>,
}

impl Permit {
    /// Counts the signature in the rolling period (when one applies). Call it after the
    /// signature was made, in the same request: only signatures that happen count.
    pub fn record(self, env: &Env<'_>) -> Result<(), ApiError> {
        let Some((user_id, value)) = self.event else {
            return Ok(());
        };
        env.db
            .execute(
                "INSERT INTO gd_policy_event (user_id, at, value) VALUES (?, ?, ?)",
                &[
                    user_id.as_str().into(),
                    Sql::Integer(env.now_ms),
                    value.to_dec_string().into(),
                ],
            )
            .map_err(|e| db_err(&e))?;
        Ok(())
    }
}

/// The document that applies to `user_id`: theirs, else the deployment's, with its name for the
/// audit trail. A stored document that no longer parses fails closed (500).
fn applicable(env: &Env<'_>, user_id: &str) -> Result<Option<(&'static str, Policy)>, ApiError> {
    let scope = user_scope(user_id);
    let rows = env
        .db
        .execute(
            "SELECT scope, document FROM gd_policy WHERE scope = ? OR scope = ?",
            &[scope.as_str().into(), DEPLOYMENT.into()],
        )
        .map_err(|e| db_err(&e))?;
    let pick = |wanted: &str| {
        rows.iter()
            .find(|r| r.text(0) == Some(wanted))
            .and_then(|r| r.text(1).map(str::to_owned))
    };
    let (source, text) = match (pick(&scope), pick(DEPLOYMENT)) {
        (Some(doc), _) => ("user", doc),
        (None, Some(doc)) => (DEPLOYMENT, doc),
        (None, None) => return Ok(None),
    };
    let policy = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| Policy::parse(&v).ok())
        .ok_or_else(|| ApiError::internal("the stored signing policy cannot be read"))?;
    Ok(Some((source, policy)))
}

fn refused(env: &Env<'_>, refusal: guardian_core::policy::Refusal) -> ApiError {
    let code = refusal.rule.code();
    env.audit.detail("policy", code);
    ApiError::new(403, code, refusal.message)
}

/// Whether the policy that applies to `user_id` allows signing `intent` (docs/guardian.md,
/// "Design: signing policies"). Without a stored document everything is allowed and nothing is
/// recorded. With one, the audit record names the document (`policy_document`: `user` or
/// `deployment`) and the decision (`policy`: `allowed` or the refusing code); a refusal is a
/// 403 whose code names the rule. A rolling period takes the user's lock row first, so the
/// user's concurrent signatures are decided one after the other, on every host.
pub fn check(env: &Env<'_>, user_id: &str, intent: &Intent) -> Result<Permit, ApiError> {
    let Some((source, policy)) = applicable(env, user_id)? else {
        return Ok(Permit { event: None });
    };
    env.audit.detail("policy_document", source);
    policy.evaluate(intent).map_err(|r| refused(env, r))?;
    let event = match &policy.period {
        None => None,
        Some(period) => {
            let since = env.now_ms.saturating_sub(period.window_ms());
            let history = period_history(env, user_id, since)?;
            let value = intent.value();
            period
                .admit(&history, &value)
                .map_err(|r| refused(env, r))?;
            Some((user_id.to_owned(), value))
        }
    };
    env.audit.detail("policy", "allowed");
    Ok(Permit { event })
}

/// The values of the user's signatures after `since`, read under the user's lock row, after
/// dropping the user's older events (which keeps the table bounded).
fn period_history(env: &Env<'_>, user_id: &str, since: i64) -> Result<Vec<U256>, ApiError> {
    // The lock: on PostgreSQL the upsert holds the row until the transaction ends, so a second
    // request of the same user waits here and then sees the first one's event; SQLite's write
    // lock (taken by the token's consumption) already serialises writers.
    env.db
        .execute(
            "INSERT INTO gd_policy_lock (user_id, locked_at) VALUES (?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET locked_at = excluded.locked_at \
             RETURNING user_id",
            &[user_id.into(), Sql::Integer(env.now_ms)],
        )
        .map_err(|e| db_err(&e))?;
    env.db
        .execute(
            "DELETE FROM gd_policy_event WHERE user_id = ? AND at <= ?",
            &[user_id.into(), Sql::Integer(since)],
        )
        .map_err(|e| db_err(&e))?;
    let rows = env
        .db
        .execute(
            "SELECT value FROM gd_policy_event WHERE user_id = ? AND at > ?",
            &[user_id.into(), Sql::Integer(since)],
        )
        .map_err(|e| db_err(&e))?;
    rows.iter()
        .map(|r| {
            r.text(0)
                .and_then(U256::from_dec_digits)
                .ok_or_else(|| ApiError::internal("a stored policy event cannot be read"))
        })
        .collect()
}

// ---- the maintainer's routes ----

/// `GET|PUT|DELETE /guardian/policy`: the deployment's document.
pub(crate) fn deployment(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    maintain(env, req, false)
}

/// `GET|PUT|DELETE /guardian/policy/user?user=<user id, percent-encoded>`: one user's document.
pub(crate) fn user(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    maintain(env, req, true)
}

/// The `user` query parameter: exactly once, percent-decoded, non-empty, at most
/// [`limits::USER_ID`] bytes.
fn user_param(req: &Request) -> Result<String, ApiError> {
    let missing = || {
        ApiError::bad_request(
            "give the user id once, percent-encoded, as the query parameter user \
             (e.g. ?user=okta%3A00u123)",
        )
    };
    let mut found = None;
    for pair in req.query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match form_decode(k).as_deref() {
            Some("user") if found.is_none() => found = Some(form_decode(v).ok_or_else(missing)?),
            Some("user") => return Err(missing()),
            Some("") | None => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let user = found.filter(|u| !u.is_empty()).ok_or_else(missing)?;
    limits::check("user", &user, limits::USER_ID)?;
    Ok(user)
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "POLICY_NOT_FOUND",
        "no signing policy is stored here (PUT one to set it)",
    )
}

/// One maintainer call. The action is named before the bearer is checked, so a refused call is
/// recorded too; the document and its record commit together.
fn maintain(env: &Env<'_>, req: &Request, for_user: bool) -> Result<Response, ApiError> {
    let action = match req.method.as_str() {
        "PUT" => "policy.set",
        "DELETE" => "policy.delete",
        _ => "policy.read",
    };
    env.audit.action(action);
    env.audit
        .detail("scope", if for_user { "user" } else { DEPLOYMENT });
    // Without master_key the record cannot be keyed: answered before anything changes.
    config::master_key(env)?;
    admin::authenticate(env, req)?;
    let scope = if for_user {
        let user = user_param(req)?;
        env.audit.object(&user);
        user_scope(&user)
    } else {
        env.audit.object(DEPLOYMENT);
        DEPLOYMENT.to_owned()
    };
    match req.method.as_str() {
        "PUT" => {
            let doc: Value = serde_json::from_slice(&req.body).map_err(|_| {
                ApiError::new(400, "INVALID_POLICY", "the policy must be a JSON object")
            })?;
            let policy = Policy::parse(&doc)
                .map_err(|e| ApiError::new(400, "INVALID_POLICY", e.to_string()))?;
            let normal = policy.to_json().to_string();
            let id = crate::store::token_id(&normal);
            env.db
                .execute(
                    "INSERT INTO gd_policy (scope, document, updated_at) VALUES (?, ?, ?) \
                     ON CONFLICT (scope) DO UPDATE SET document = excluded.document, \
                     updated_at = excluded.updated_at",
                    &[
                        scope.as_str().into(),
                        normal.as_str().into(),
                        Sql::Integer(env.now_ms),
                    ],
                )
                .map_err(|e| db_err(&e))?;
            // Which version is in force, as the first 16 hex digits of its SHA-256.
            env.audit.detail("document", id);
            Ok(Response::json_text(200, normal))
        }
        "DELETE" => {
            let rows = env
                .db
                .execute(
                    "DELETE FROM gd_policy WHERE scope = ? RETURNING scope",
                    &[scope.as_str().into()],
                )
                .map_err(|e| db_err(&e))?;
            if rows.is_empty() {
                return Err(not_found());
            }
            Ok(Response::json(200, &json!({ "deleted": true })))
        }
        _ => {
            let rows = env
                .db
                .execute(
                    "SELECT document FROM gd_policy WHERE scope = ?",
                    &[scope.as_str().into()],
                )
                .map_err(|e| db_err(&e))?;
            let doc = rows.first().and_then(|r| r.text(0)).ok_or_else(not_found)?;
            Ok(Response::json_text(200, doc))
        }
    }
}
