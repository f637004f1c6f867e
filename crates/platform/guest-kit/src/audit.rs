//! The audit trail as services write it (docs/OPERATIONS.md, "Audit trail"): one record per
//! security-relevant request, appended to the keyed chain of [`audit_chain`] in the service's own
//! database, in the same transaction as the action it records.
//!
//! A handler names its action and says who acted on what ([`Audit::action`], [`Audit::actor`],
//! [`Audit::object`], [`Audit::detail`]); the platform fills in the time, the request id, the
//! service, the client address and the outcome (from the answer's status and error code), and
//! decides when the record is written:
//!
//! - inside [`atomically`], just before `COMMIT`: the record and the action commit together; if
//!   the record cannot be written the action is rolled back and the request fails; an action
//!   rolled back for a server error leaves no record;
//! - otherwise when the request ends ([`audited`]): a request refused before it touched anything
//!   (bad credentials, rate limit, bad input) is recorded in a transaction of its own, and if
//!   that fails the answer is replaced by `503 AUDIT_UNAVAILABLE`, so no answer leaves unaudited.
//!
//! A record never holds key material, shares, tokens, secrets, passwords or bodies: handlers
//! pass identifiers only, and every text field is bounded ([`audit_chain::bounded`]).

use std::cell::RefCell;

use audit_chain::{ChainKey, Record, bounded};
use serde_json::{Map, Value as Json};

use crate::env::Env;
use crate::error::ApiError;
use crate::http::{Request, Response, request_id};
use crate::sql::{Db, DbError, ERASURE_CHECKPOINT, Schema, Value};

/// The chain's tables, in every service database ([`audit_chain::sql`]).
pub const SCHEMA: Schema = Schema {
    marker: audit_chain::sql::MARKER,
    statements: audit_chain::sql::TABLES,
};

/// What a request's record says so far.
#[derive(Debug, Default)]
struct Draft {
    action: &'static str,
    actor: String,
    object: String,
    details: Map<String, Json>,
}

#[derive(Debug, Default)]
enum State {
    /// No action named: nothing to record (a 404, a preflight, a health check).
    #[default]
    Quiet,
    Pending(Draft),
    /// Written, or dropped with a rolled-back action.
    Settled,
}

/// One request's audit record in the making. Created per request by [`audited`].
#[derive(Debug)]
pub struct Trail {
    service: &'static str,
    request_id: String,
    client: RefCell<String>,
    state: RefCell<State>,
    /// The request erased secret data: its commit is followed by [`ERASURE_CHECKPOINT`].
    erased: std::cell::Cell<bool>,
}

impl Trail {
    /// A trail for one request: its id (see [`request_id`]) and the client address the platform
    /// reports (`spin-client-addr`, port dropped).
    pub fn new(service: &'static str, req: &Request, now_ms: i64) -> Self {
        let client = req
            .header_str("spin-client-addr")
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.ip().to_canonical().to_string())
            .unwrap_or_default();
        Self {
            service,
            request_id: request_id(req, now_ms),
            client: RefCell::new(client),
            state: RefCell::new(State::Quiet),
            erased: std::cell::Cell::new(false),
        }
    }

    /// The request id the record carries (the one the host's access log prints).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    fn draft(&self, edit: impl FnOnce(&mut Draft)) {
        if let State::Pending(draft) = &mut *self.state.borrow_mut() {
            edit(draft);
        }
    }
}

/// The request's trail as handlers see it ([`Env::audit`]): every method is a no-op where no
/// trail was given (native unit tests of a single function).
#[derive(Debug, Clone, Copy, Default)]
pub struct Audit<'a>(pub(crate) Option<&'a Trail>);

impl<'a> Audit<'a> {
    /// Names the request's action (`key.read`, `share.store`, …): from here on the request is
    /// recorded, whatever its outcome. Naming another action replaces it.
    pub fn action(self, action: &'static str) {
        if let Some(trail) = self.0 {
            let mut state = trail.state.borrow_mut();
            match &mut *state {
                State::Pending(draft) => draft.action = action,
                State::Quiet => {
                    *state = State::Pending(Draft {
                        action,
                        ..Draft::default()
                    })
                }
                State::Settled => {}
            }
        }
    }

    /// Who acted, as far as it is known: `namespace=… user=…`, `project=… user=…`, `admin`.
    pub fn actor(self, actor: &str) {
        if let Some(trail) = self.0 {
            trail.draft(|d| d.actor = bounded(actor));
        }
    }

    /// What was acted on: a key's, share's or project's identifier (never its content).
    pub fn object(self, object: &str) {
        if let Some(trail) = self.0 {
            trail.draft(|d| d.object = bounded(object));
        }
    }

    /// One more fact about the action (a signature's chain id, an address index).
    pub fn detail(self, name: &str, value: impl Into<Json>) {
        if let Some(trail) = self.0 {
            let value = match value.into() {
                Json::String(s) => Json::String(bounded(&s)),
                other => other,
            };
            trail.draft(|d| {
                d.details.insert(name.to_owned(), value);
            });
        }
    }

    /// The client address, where the service knows better than the platform (a trusted
    /// proxy's header).
    pub fn client(self, address: &str) {
        if let Some(trail) = self.0 {
            *trail.client.borrow_mut() = bounded(address);
        }
    }

    /// Says that the request erases secret data (a key, a share): once its transaction has
    /// committed, the platform pushes the erased values out of the database's write-ahead log
    /// too (docs/OPERATIONS.md, "Erasure"), and the record says `erased: true`.
    pub fn erased(self) {
        if let Some(trail) = self.0 {
            trail.erased.set(true);
            trail.draft(|d| {
                d.details.insert("erased".to_owned(), Json::Bool(true));
            });
        }
    }

    /// The request id, empty without a trail.
    pub fn request_id(self) -> &'a str {
        self.0.map_or("", |t| t.request_id.as_str())
    }
}

/// Why the record of an action could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("master_key is missing or invalid")]
    Key,
    #[error("the audit trail's storage failed: {0}")]
    Storage(#[from] DbError),
    #[error("the audit trail's head is malformed")]
    Head,
}

impl AuditError {
    /// The answer to a request whose record cannot be written: the action did not happen.
    pub fn into_api_error(self) -> ApiError {
        ApiError::new(
            503,
            "AUDIT_UNAVAILABLE",
            "the audit trail cannot be written, so the request was not carried out; try again later",
        )
    }
}

/// Runs one request with a trail: the handler names its action through [`Env::audit`], and a
/// record not yet written by [`atomically`] is written when the request ends.
pub fn audited(
    service: &'static str,
    env: &Env<'_>,
    req: &Request,
    handle: impl FnOnce(&Env<'_>) -> Response,
) -> Response {
    let trail = Trail::new(service, req, env.now_ms);
    let env = Env {
        audit: Audit(Some(&trail)),
        ..*env
    };
    let resp = handle(&env);
    if !matches!(*trail.state.borrow(), State::Pending(_)) {
        return resp;
    }
    let written = SCHEMA
        .ensure(env.db)
        .map_err(AuditError::from)
        .and_then(|()| crate::sql::transaction(env.db, || append(&env, &resp), Result::is_ok)?);
    match written {
        Ok(()) => resp,
        Err(e) => e.into_api_error().into_response(),
    }
}

/// A transaction or its record failed; the action was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Storage(#[from] DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl Failure {
    /// The answer: the service words a storage failure, the platform an audit failure.
    pub fn into_response(self, storage: impl FnOnce(DbError) -> ApiError) -> Response {
        match self {
            Failure::Storage(e) => storage(e),
            Failure::Audit(e) => e.into_api_error(),
        }
        .into_response()
    }
}

/// Runs `work` as one [`Transaction`], begun at once.
pub fn atomically(env: &Env<'_>, work: impl FnOnce() -> Response) -> Result<Response, Failure> {
    let tx = Transaction::new(env);
    tx.begin()?;
    tx.finish(work())
}

/// One request's transaction, begun where the request starts to touch storage: at once for
/// most requests, after the identity provider has answered for a request that asks one (a
/// transaction held open across an outbound call would hold SQLite's write lock for as long as
/// the provider takes).
///
/// [`Transaction::finish`] appends the request's record (if an action was named) just before
/// `COMMIT`. An answer of 500 or more rolls everything back and drops the record; any other
/// answer is committed with its record, or, if the record cannot be written, rolled back and
/// reported as [`Failure::Audit`]. A transaction never begun commits nothing, and the record is
/// left to [`audited`].
pub struct Transaction<'e, 'a> {
    env: &'e Env<'a>,
    open: std::cell::Cell<bool>,
}

impl<'e, 'a> Transaction<'e, 'a> {
    pub fn new(env: &'e Env<'a>) -> Self {
        Self {
            env,
            open: std::cell::Cell::new(false),
        }
    }

    /// Begins the transaction; a second call does nothing. Inside it, nested atomic steps use
    /// `SAVEPOINT`.
    pub fn begin(&self) -> Result<(), DbError> {
        if self.open.get() {
            return Ok(());
        }
        // Outside the transaction: on PostgreSQL a failed probe would abort it.
        SCHEMA.ensure(self.env.db)?;
        self.env.db.execute("BEGIN", &[])?;
        self.open.set(true);
        Ok(())
    }

    /// Ends the transaction with the request's answer (see the type's documentation).
    pub fn finish(&self, resp: Response) -> Result<Response, Failure> {
        if !self.open.replace(false) {
            return Ok(resp);
        }
        let env = self.env;
        let outcome = if resp.status >= 500 {
            if let Some(trail) = env.audit.0 {
                *trail.state.borrow_mut() = State::Settled;
            }
            Err(None)
        } else {
            append(env, &resp).map_err(Some)
        };
        match outcome {
            Ok(()) => {
                env.db.execute("COMMIT", &[])?;
                if env.audit.0.is_some_and(|t| t.erased.get()) {
                    // Best effort, after the commit (a checkpoint cannot run inside a
                    // transaction): see `ERASURE_CHECKPOINT`.
                    let _ = env.db.execute(ERASURE_CHECKPOINT, &[]);
                }
                Ok(resp)
            }
            Err(failure) => {
                // A failed ROLLBACK leaves nothing committed either: the host rolls back an
                // open transaction when the connection is released.
                let _ = env.db.execute("ROLLBACK", &[]);
                match failure {
                    None => Ok(resp),
                    Some(e) => Err(e.into()),
                }
            }
        }
    }
}

/// Appends the pending record, if any, inside the caller's transaction.
fn append(env: &Env<'_>, resp: &Response) -> Result<(), AuditError> {
    let Some(trail) = env.audit.0 else {
        return Ok(());
    };
    // Settled from here on, written or not: a failed append fails the request.
    let taken = trail.state.replace(State::Settled);
    let draft = match taken {
        State::Pending(draft) => draft,
        other => {
            trail.state.replace(other);
            return Ok(());
        }
    };
    let key = crate::config::master_keys(env)
        .ok()
        .and_then(|keys| ChainKey::derive(keys.current()).ok())
        .ok_or(AuditError::Key)?;
    let (outcome, code) = outcome(resp);
    let mut record = Record {
        seq: 0,
        time_ms: env.now_ms,
        request_id: trail.request_id.clone(),
        service: trail.service.to_owned(),
        action: draft.action.to_owned(),
        outcome: outcome.to_owned(),
        code,
        actor: draft.actor,
        client: trail.client.borrow().clone(),
        object: draft.object,
        details: Json::Object(draft.details).to_string(),
        key_id: key.id().to_owned(),
    };
    let (seq, prev) = advance_head(env.db)?;
    record.seq = seq;
    let link = hex::encode(key.link(&prev, &record));
    insert(env.db, &record, &link)?;
    env.db.execute(audit_chain::sql::SET_HEAD, &[link.into()])?;
    Ok(())
}

/// Takes the next sequence number and the link before it ([`audit_chain::sql::ADVANCE_HEAD`]).
fn advance_head(db: &dyn Db) -> Result<(i64, [u8; 32]), AuditError> {
    let rows = db.execute(audit_chain::sql::ADVANCE_HEAD, &[])?;
    let row = rows.first().ok_or(AuditError::Head)?;
    let seq = row.integer(0).ok_or(AuditError::Head)?;
    let mac = row.text(1).ok_or(AuditError::Head)?;
    let prev = audit_chain::previous_link(mac).ok_or(AuditError::Head)?;
    Ok((seq, prev))
}

fn insert(db: &dyn Db, r: &Record, link: &str) -> Result<(), DbError> {
    let values = r.columns(link).map(|c| match c {
        audit_chain::Column::Integer(i) => Value::Integer(i),
        audit_chain::Column::Text(t) => Value::Text(t.to_owned()),
    });
    db.execute(audit_chain::sql::INSERT, &values)?;
    Ok(())
}

/// `success` below 400; otherwise `failure` with the answer's error code (`HTTP_<status>` if
/// the body names none).
fn outcome(resp: &Response) -> (&'static str, String) {
    if resp.status < 400 {
        return ("success", String::new());
    }
    let code = serde_json::from_slice::<Json>(&resp.body)
        .ok()
        .and_then(|v| v.get("code").and_then(Json::as_str).map(bounded))
        .unwrap_or_else(|| format!("HTTP_{}", resp.status));
    ("failure", code)
}
