//! Tables and statements (docs/shield.md, "Storage"), in portable SQL (docs/platform.md, "Design: portable SQL") so the same statements
//! run on SQLite and PostgreSQL: `?` placeholders, TEXT ids, BIGINT unix-ms timestamps, INTEGER
//! 0/1 booleans, base64 TEXT for binary, `INSERT … ON CONFLICT`, `DELETE … RETURNING`. The
//! components create the schema idempotently before the first statement of a request
//! (`CREATE … IF NOT EXISTS`); there is no separate migration step.
//!
//! Foreign keys are declared (docs/shield.md, "Storage"), but SQLite enforces them only when a connection enables them,
//! so every delete that must cascade for behaviour (a provider's external users) is explicit.

use std::cell::{Cell, OnceCell};

use envelope::{MasterKey, Sealer};
use guest_kit::{Db, Row, Rows, Value};
use zeroize::Zeroizing;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult, storage};

mod encryption_keys;
mod projects;
mod providers;
mod rate_limit;
mod schema;
mod sessions;
mod shares;
mod users;

pub(crate) use encryption_keys::EncryptionKey;
pub(crate) use projects::Project;
pub(crate) use providers::Provider;
pub(crate) use shares::{NewShare, Share, ShareContent};

/// The HKDF `info` of every shield ciphertext at rest; the AAD names table and row.
const SEAL_INFO: &[u8] = b"keyward/shield/at-rest/v1";

/// Storage for one request.
pub(crate) struct Store<'a> {
    db: &'a dyn Db,
    master_key: Option<String>,
    ready: Cell<bool>,
    sealer: OnceCell<Option<Sealer>>,
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
    pub fn new(db: &'a dyn Db, master_key: Option<String>) -> Self {
        Self {
            db,
            master_key,
            ready: Cell::new(false),
            sealer: OnceCell::new(),
        }
    }

    pub fn run(&self, sql: &str, params: &[Value]) -> ApiResult<Rows> {
        if !self.ready.get() {
            schema::SCHEMA.ensure(self.db).map_err(storage)?;
            self.ready.set(true);
        }
        self.db.execute(sql, params).map_err(storage)
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

    /// Runs `f` in a transaction whose first statement write-locks the project row (so SQLite
    /// takes the write lock at once and PostgreSQL serialises per project). Rolled back on error.
    pub fn tx<T>(
        &self,
        project_id: &str,
        now_ms: i64,
        f: impl FnOnce() -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.run("BEGIN", &[])?;
        let result = self
            .db
            .execute(
                "UPDATE projects SET updated_at = ? WHERE id = ?",
                &[now_ms.into(), project_id.into()],
            )
            .map_err(storage)
            .and_then(|_| f());
        match result {
            Ok(v) => {
                if let Err(e) = self.db.execute("COMMIT", &[]) {
                    let _ = self.db.execute("ROLLBACK", &[]);
                    return Err(storage(e));
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.execute("ROLLBACK", &[]);
                Err(e)
            }
        }
    }

    fn sealer(&self) -> ApiResult<&Sealer> {
        self.sealer
            .get_or_init(|| {
                let master = MasterKey::parse(self.master_key.as_deref()?).ok()?;
                Sealer::new(&master, SEAL_INFO).ok()
            })
            .as_ref()
            .ok_or_else(|| ApiError::internal("master_key is missing or invalid"))
    }

    pub fn seal(&self, table: &str, id: &str, plaintext: &str) -> ApiResult<String> {
        self.sealer()?
            .seal(
                plaintext.as_bytes(),
                format!("shield|{table}|{id}").as_bytes(),
            )
            .map_err(|_| ApiError::internal("seal"))
    }

    pub fn open(&self, table: &str, id: &str, sealed: &str) -> ApiResult<Zeroizing<String>> {
        let bytes = Zeroizing::new(
            self.sealer()?
                .open(sealed, format!("shield|{table}|{id}").as_bytes())
                .map_err(|_| ApiError::internal("open sealed value"))?,
        );
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal("sealed value is not UTF-8"))
    }
}
