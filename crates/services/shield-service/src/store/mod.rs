//! Tables and statements (docs/shield.md, "Storage"), in portable SQL (docs/platform.md, "Design: portable SQL") so the same statements
//! run on SQLite and PostgreSQL: `?` placeholders, TEXT ids, BIGINT unix-ms timestamps, INTEGER
//! 0/1 booleans, base64 TEXT for binary, `INSERT … ON CONFLICT`, `DELETE … RETURNING`. The
//! components create the schema idempotently before the first statement of a request
//! (`CREATE … IF NOT EXISTS`); there is no separate migration step.
//!
//! Foreign keys are declared (docs/shield.md, "Storage"), but SQLite enforces them only when a connection enables them,
//! so every delete that must cascade for behaviour (a provider's external users) is explicit.

use std::cell::{Cell, OnceCell};

use envelope::{Keyring, Sealer};
use guest_kit::audit::Transaction;
use guest_kit::{Db, Row, Rows, Value};
use zeroize::Zeroizing;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult, storage};

mod encryption_keys;
mod otp;
mod projects;
mod providers;
mod rate_limit;
mod retry;
mod schema;
mod sessions;
mod shares;
mod users;

pub(crate) use encryption_keys::EncryptionKey;
pub(crate) use projects::Project;
pub(crate) use providers::Provider;
/// shield's tables, also created by `keyward shield import` before it writes.
pub use schema::SCHEMA;
pub(crate) use sessions::SessionUse;
pub(crate) use shares::{NewShare, Share, ShareContent};

/// The HKDF `info` of every shield ciphertext at rest; the AAD names table and row.
const SEAL_INFO: &[u8] = sealed_columns::shield::INFO;

/// The savepoint of [`Store::tx`]. Savepoints of one name nest: `RELEASE` and `ROLLBACK TO`
/// act on the innermost.
const STEP_BEGIN: &str = "SAVEPOINT shield_step";
const STEP_END: &str = "RELEASE shield_step";
const STEP_UNDO: &str = "ROLLBACK TO shield_step";

/// Storage for one request, with the request's transaction (docs/OPERATIONS.md, "Audit trail"):
/// the changes and their audit record commit together.
pub(crate) struct Store<'a> {
    db: &'a dyn Db,
    /// `master_key` and `master_key_previous`; `None` when they do not parse.
    keys: Option<Keyring>,
    ready: Cell<bool>,
    sealer: OnceCell<Option<Sealer>>,
    request: &'a Transaction<'a, 'a>,
}

fn text(row: &Row<'_>, i: usize) -> ApiResult<String> {
    row.text(i)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal("unexpected column type"))
}

fn opt_text(row: &Row<'_>, i: usize) -> ApiResult<Option<String>> {
    match row.get(i) {
        Some(Value::Text(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        _ => Err(ApiError::internal("unexpected column type")),
    }
}

fn opt_int(row: &Row<'_>, i: usize) -> ApiResult<Option<i64>> {
    row.opt_integer(i)
        .ok_or_else(|| ApiError::internal("unexpected column type"))
}

fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

impl<'a> Store<'a> {
    pub fn new(db: &'a dyn Db, keys: Option<Keyring>, request: &'a Transaction<'a, 'a>) -> Self {
        Self {
            db,
            keys,
            ready: Cell::new(false),
            sealer: OnceCell::new(),
            request,
        }
    }

    fn ensure_schema(&self) -> ApiResult<()> {
        if !self.ready.get() {
            schema::SCHEMA.ensure(self.db).map_err(storage)?;
            self.ready.set(true);
        }
        Ok(())
    }

    pub fn run(&self, sql: &str, params: &[Value]) -> ApiResult<Rows> {
        self.ensure_schema()?;
        self.db.execute(sql, params).map_err(storage)
    }

    /// Begins the request's transaction, if it has not begun: from here on every statement,
    /// and the request's audit record, commit or roll back together when the request ends. A
    /// share route begins it only after the identity provider answered, so no transaction (and
    /// on SQLite no write lock) is held across an outbound call.
    pub fn begin(&self) -> ApiResult<()> {
        // The schema first, outside the transaction: on PostgreSQL a failed probe inside it
        // would abort it.
        self.ensure_schema()?;
        self.request.begin().map_err(storage)
    }

    /// Runs `sql` and reads its first row with `read`; `None` when there is no row.
    fn first<T>(
        &self,
        sql: &str,
        params: &[Value],
        read: impl FnOnce(&Row<'_>) -> ApiResult<T>,
    ) -> ApiResult<Option<T>> {
        self.run(sql, params)?.first().map(|r| read(&r)).transpose()
    }

    /// Deletes the rows of `table` (one of ours, never input) that expired by `now_ms`: the
    /// opportunistic purge before a write of short-lived rows.
    fn purge_expired(&self, table: &'static str, now_ms: i64) -> ApiResult<()> {
        self.run(
            &format!("DELETE FROM {table} WHERE expires_at <= ?"),
            &[now_ms.into()],
        )?;
        Ok(())
    }

    /// Runs `f` as one step of the request's transaction (begun here if it has not begun),
    /// whose first statement write-locks the project row (PostgreSQL serialises per project;
    /// SQLite's transaction holds the write lock already). On error the step is undone
    /// (`ROLLBACK TO`) and the rest of the request's transaction stays.
    pub fn tx<T>(
        &self,
        project_id: &str,
        now_ms: i64,
        f: impl FnOnce() -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.begin()?;
        self.run(STEP_BEGIN, &[])?;
        let result = self
            .run(
                "UPDATE projects SET updated_at = ? WHERE id = ?",
                &[now_ms.into(), project_id.into()],
            )
            .and_then(|_| f());
        match result {
            Ok(v) => {
                // A step that cannot be released fails the request, and its 500 rolls the
                // whole transaction back.
                self.run(STEP_END, &[])?;
                Ok(v)
            }
            Err(e) => {
                // A step that cannot be undone must not be kept half done by a 4xx's commit:
                // its storage error (500) rolls the whole transaction back.
                self.db
                    .execute(STEP_UNDO, &[])
                    .and_then(|_| self.db.execute(STEP_END, &[]))
                    .map_err(storage)?;
                Err(e)
            }
        }
    }

    fn sealer(&self) -> ApiResult<&Sealer> {
        self.sealer
            .get_or_init(|| Sealer::with_keyring(self.keys.as_ref()?, SEAL_INFO).ok())
            .as_ref()
            .ok_or_else(|| ApiError::internal("master_key is missing or invalid"))
    }

    pub fn seal(&self, table: &str, id: &str, plaintext: &str) -> ApiResult<String> {
        self.sealer()?
            .seal(
                plaintext.as_bytes(),
                sealed_columns::shield::aad(table, id).as_bytes(),
            )
            .map_err(|_| ApiError::internal("seal"))
    }

    pub fn open(&self, table: &str, id: &str, sealed: &str) -> ApiResult<Zeroizing<String>> {
        let bytes = Zeroizing::new(
            self.sealer()?
                .open(sealed, sealed_columns::shield::aad(table, id).as_bytes())
                .map_err(|_| ApiError::internal("open sealed value"))?,
        );
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal("sealed value is not UTF-8"))
    }
}
