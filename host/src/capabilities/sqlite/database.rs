//! A guest's SQLite connection over its label's backend. The embedded backend is SQLite itself,
//! so statements run verbatim and values map one to one; PostgreSQL translates (see `postgres`).

use std::sync::Arc;

use anyhow::Context;
use rusqlite::types::ValueRef;

use super::known_tables::{self, KnownTables};
use super::postgres::{PgConn, PgDatabase};
use super::values::{Error, QueryResult, ResultBudget, RowResult, Value};
use crate::capabilities::BackendUnavailable;
use embedded_sqlite::{SqlitePool, StorageFailure, Writing};

/// A database label bound to its backend, with the marker tables it is known to have
/// (docs/platform.md, "Design: schema probes").
#[derive(Debug, Clone)]
pub struct SqlDatabase {
    pub backend: Backend,
    known: Arc<KnownTables>,
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(Arc<SqlitePool>),
    Postgres(PgDatabase),
}

impl SqlDatabase {
    pub fn new(backend: Backend) -> Self {
        SqlDatabase {
            backend,
            known: Arc::default(),
        }
    }

    pub fn connect(&self) -> SqlConn {
        let conn = match &self.backend {
            Backend::Sqlite(pool) => Conn::Sqlite(SqliteConn {
                pool: pool.clone(),
                reader: None,
                permit: None,
                writing: None,
            }),
            Backend::Postgres(db) => Conn::Postgres(db.connect()),
        };
        SqlConn {
            conn,
            known: self.known.clone(),
            teaches: true,
            forget_at_end: false,
        }
    }

    /// Whether the backend answers `SELECT 1` (`/readyz`).
    pub async fn ping(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                crate::capabilities::key_value::store::embedded_ping(pool).await
            }
            Backend::Postgres(db) => db.ping().await,
        }
    }
}

/// The host side of a guest's `sqlite.connection`.
#[derive(Debug)]
pub struct SqlConn {
    conn: Conn,
    known: Arc<KnownTables>,
    /// False once the connection ran a statement that can move or remove tables: what it sees
    /// may differ from what other connections see.
    teaches: bool,
    /// Such a statement ran and is not committed yet: forget again once it is.
    forget_at_end: bool,
}

#[derive(Debug)]
enum Conn {
    Sqlite(SqliteConn),
    Postgres(PgConn),
}

/// A guest's connection to an embedded file. Reads outside a transaction run on a pooled
/// connection, taken on first use and kept until the guest drops the resource. A transaction
/// (from `BEGIN` to `COMMIT` or `ROLLBACK`) and every write outside one run on the file's batch
/// connection in a savepoint of their own, and `COMMIT` answers once the batch is durable
/// (docs/platform.md, "Design: group commit").
#[derive(Debug)]
pub struct SqliteConn {
    pool: Arc<SqlitePool>,
    reader: Option<rusqlite::Connection>,
    /// The pool's permit for `reader`, taken with it and kept until the guest drops it.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The guest's open transaction.
    writing: Option<Writing>,
}

impl SqlConn {
    /// Which backend this is, for metrics.
    pub fn backend(&self) -> crate::observability::metrics::Backend {
        use crate::observability::metrics::Backend;
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn execute(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> Result<Result<QueryResult, Error>, BackendUnavailable> {
        let probed = known_tables::probed_table(&sql).filter(|_| params.is_empty());
        if let Some(answer) = probed.and_then(|table| self.known.answer(table)) {
            return Ok(Ok(answer));
        }
        let removing = known_tables::may_remove_tables(&sql);
        if removing {
            self.known.forget_all();
            self.teaches = false;
        }
        let outcome = match &mut self.conn {
            Conn::Postgres(c) => c.execute(&sql, params).await?,
            Conn::Sqlite(c) => c.execute(&sql, params).await,
        };
        let in_transaction = match &self.conn {
            Conn::Postgres(c) => c.in_transaction(),
            Conn::Sqlite(c) => c.writing.is_some(),
        };
        // Forget again once the removal is committed: other connections may have re-learned the
        // table meanwhile, because it stays visible to them until then (inside a transaction
        // until its end; outside one until the write's batch commits).
        self.forget_at_end |= removing;
        if self.forget_at_end && !in_transaction {
            self.known.forget_all();
            self.forget_at_end = false;
        }
        if let (Some(table), Ok(answered)) = (probed, &outcome)
            && self.teaches
            && !in_transaction
        {
            self.known.learn(table, answered);
        }
        Ok(outcome)
    }
}

/// What a statement does to the guest's transaction.
#[derive(Debug, PartialEq, Eq)]
enum Statement {
    Begin,
    Commit,
    Rollback,
    /// Reads only: outside a transaction, a pooled connection answers it.
    Read,
    /// Must not run inside the batch (`PRAGMA wal_checkpoint`, `VACUUM`, `ATTACH`, …).
    Exclusive,
    Write,
}

impl Statement {
    fn of(sql: &str) -> Statement {
        let words: Vec<&str> = sql
            .trim()
            .trim_end_matches(';')
            .split_ascii_whitespace()
            .take(3)
            .collect();
        let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        let only = |n: usize| words.len() <= n;
        if is(0, "BEGIN") {
            Statement::Begin
        } else if (is(0, "COMMIT") || is(0, "END"))
            && (only(1) || (is(1, "TRANSACTION") && only(2)))
        {
            Statement::Commit
        } else if is(0, "ROLLBACK") && (only(1) || (is(1, "TRANSACTION") && only(2))) {
            Statement::Rollback
        } else if embedded_sqlite::reads_only(sql) {
            Statement::Read
        } else if ["PRAGMA", "VACUUM", "ATTACH", "DETACH", "ANALYZE", "REINDEX"]
            .iter()
            .any(|w| is(0, w))
        {
            Statement::Exclusive
        } else {
            Statement::Write
        }
    }
}

const EMPTY: QueryResult = QueryResult {
    columns: Vec::new(),
    rows: Vec::new(),
};

impl SqliteConn {
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
        let kind = Statement::of(sql);
        if let Some(mut writing) = self.writing.take() {
            return match kind {
                Statement::Begin => {
                    self.writing = Some(writing);
                    Err(Error::Io(
                        "cannot start a transaction within a transaction".into(),
                    ))
                }
                Statement::Commit => {
                    let pending = writing.finish(true).map_err(io_error)?;
                    self.pool.durable(pending).await.map_err(io_error)?;
                    Ok(EMPTY)
                }
                Statement::Rollback => {
                    // Its own work is undone. It answers once what it read of the batch's
                    // earlier writers is durable, so the guest never acts on writes that a
                    // failed commit then loses (docs/platform.md, "Design: group commit").
                    let pending = writing.finish(false).map_err(io_error)?;
                    self.pool.durable(pending).await.map_err(io_error)?;
                    Ok(EMPTY)
                }
                _ => {
                    // Inside a transaction statements only touch the page cache until COMMIT:
                    // cheaper here than a thread hop.
                    let result = writing
                        .conn()
                        .map_err(io_error)
                        .and_then(|c| run_sqlite(c, sql, params));
                    if result.as_ref().is_err_and(StorageFailure::is_disk_full) {
                        writing.mark_full();
                    }
                    self.writing = Some(writing);
                    result
                }
            };
        }
        match kind {
            Statement::Begin => {
                self.writing = Some(self.pool.begin_write().await.map_err(io_error)?);
                Ok(EMPTY)
            }
            Statement::Write => self
                .pool
                .write_once(|c| run_sqlite(c, sql, params))
                .await
                .map_err(io_error)?,
            Statement::Exclusive => {
                let _exclusive = self.pool.exclusive().await.map_err(io_error)?;
                self.on_reader(sql, params, false).await
            }
            // Reads; and COMMIT / ROLLBACK outside a transaction, which SQLite refuses.
            Statement::Read | Statement::Commit | Statement::Rollback => {
                self.on_reader(sql, params, true).await
            }
        }
    }

    /// Runs a statement on the guest's pooled connection: on the async worker when it cannot
    /// wait for the disk (`inline`: reads never wait in WAL mode), else on the blocking pool.
    async fn on_reader(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        inline: bool,
    ) -> Result<QueryResult, Error> {
        if self.permit.is_none() {
            self.permit = Some(self.pool.permit().await.map_err(io_error)?);
        }
        let taken = match self.reader.take() {
            Some(c) => c,
            None => self.pool.checkout().map_err(io_error)?,
        };
        let (returned, result) = if inline {
            let r = run_sqlite(&taken, sql, params);
            (taken, r)
        } else {
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let r = run_sqlite(&taken, &sql, params);
                (taken, r)
            })
            .await
            .context("storage task failed")
            .map_err(io_error)?
        };
        self.reader = Some(returned);
        result
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        // An unfinished transaction is rolled back to its savepoint (Writing's own drop), and
        // the pooled connection goes back.
        self.writing.take();
        if let Some(c) = self.reader.take() {
            self.pool.checkin(c);
        }
    }
}

impl StorageFailure for Error {
    fn is_disk_full(&self) -> bool {
        *self == Error::DatabaseFull
    }
}

fn io_error(e: anyhow::Error) -> Error {
    if e.is_disk_full() {
        return Error::DatabaseFull;
    }
    Error::Io(format!("{e:#}"))
}

fn run_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let params = params.into_iter().map(|v| match v {
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(f) => rusqlite::types::Value::Real(f),
        Value::Text(s) => rusqlite::types::Value::Text(s),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
        Value::Null => rusqlite::types::Value::Null,
    });
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(sqlite_error)?;
    let mut out = Vec::new();
    let mut budget = ResultBudget::default();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            let v = match row.get_ref(i).map_err(sqlite_error)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            };
            budget.take(&v)?;
            values.push(v);
        }
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

fn sqlite_error(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.code == rusqlite::ErrorCode::DiskFull
    {
        return Error::DatabaseFull;
    }
    Error::Io(e.to_string())
}
