//! A guest's SQLite connection over its label's backend. The embedded backend is SQLite itself,
//! so statements run verbatim and values map one to one; PostgreSQL translates (see `postgres`).

use std::sync::Arc;

use anyhow::Context;
use rusqlite::types::ValueRef;

use super::postgres::{PgConn, PgDatabase};
use super::values::{Error, QueryResult, ResultBudget, RowResult, Value};
use crate::capabilities::BackendUnavailable;
use embedded_sqlite::{IMMEDIATE_BEGIN, SqlitePool, immediate_begin};

/// A database label bound to its backend.
#[derive(Debug, Clone)]
pub enum SqlDatabase {
    Sqlite(Arc<SqlitePool>),
    Postgres(PgDatabase),
}

impl SqlDatabase {
    pub fn connect(&self) -> SqlConn {
        match self {
            SqlDatabase::Sqlite(pool) => SqlConn::Sqlite {
                pool: pool.clone(),
                conn: None,
                writing: None,
                permit: None,
            },
            SqlDatabase::Postgres(db) => SqlConn::Postgres(db.connect()),
        }
    }

    /// Whether the backend answers `SELECT 1` (`/readyz`).
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            SqlDatabase::Sqlite(pool) => {
                crate::capabilities::key_value::store::embedded_ping(pool).await
            }
            SqlDatabase::Postgres(db) => db.ping().await,
        }
    }
}

/// The host side of a guest's `sqlite.connection`. The pooled connection is taken on first use
/// and kept until the guest drops the resource (or the instance ends), so `BEGIN` … `COMMIT`
/// issued by the guest run on one connection.
#[derive(Debug)]
pub enum SqlConn {
    Sqlite {
        pool: Arc<SqlitePool>,
        conn: Option<rusqlite::Connection>,
        /// The file's write lock while this connection writes (see `SqlitePool::writer`).
        /// Declared after `conn` so it is released only after the connection is returned.
        writing: Option<tokio::sync::OwnedMutexGuard<()>>,
        /// The pool's permit for `conn`, taken with it and kept until the guest drops it.
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    Postgres(PgConn),
}

impl SqlConn {
    /// Which backend this is, for metrics.
    pub fn backend(&self) -> crate::observability::metrics::Backend {
        use crate::observability::metrics::Backend;
        match self {
            SqlConn::Sqlite { .. } => Backend::Sqlite,
            SqlConn::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn execute(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> Result<Result<QueryResult, Error>, BackendUnavailable> {
        match self {
            SqlConn::Postgres(c) => c.execute(sql, params).await,
            SqlConn::Sqlite {
                pool,
                conn,
                writing,
                permit,
            } => Ok(execute_sqlite(pool, conn, writing, permit, sql, params).await),
        }
    }
}

async fn execute_sqlite(
    pool: &SqlitePool,
    conn: &mut Option<rusqlite::Connection>,
    writing: &mut Option<tokio::sync::OwnedMutexGuard<()>>,
    permit: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    sql: String,
    params: Vec<Value>,
) -> Result<QueryResult, Error> {
    if permit.is_none() {
        *permit = Some(pool.permit().await.map_err(io_error)?);
    }
    if writing.is_none() && !embedded_sqlite::reads_only(&sql) {
        *writing = Some(pool.writer().await);
    }
    let sql = immediate_begin(sql);
    let taken = match conn.take() {
        Some(c) => c,
        None => pool.checkout().map_err(io_error)?,
    };
    let (returned, result) = match try_inline(&taken, &sql, &params) {
        Some(result) => (taken, result),
        None => tokio::task::spawn_blocking(move || {
            let r = run_sqlite(&taken, &sql, params);
            (taken, r)
        })
        .await
        .context("storage task failed")
        .map_err(io_error)?,
    };
    if returned.is_autocommit() {
        // An autocommit write is done, or the transaction was committed or rolled back.
        *writing = None;
    }
    *conn = Some(returned);
    result
}

/// Runs a statement on the async worker itself when it cannot wait for the disk (a sync) or for
/// another connection; `None` sends it to the blocking pool. A thread hop costs more than these
/// statements: reads (WAL readers never wait), statements inside an open transaction (they only
/// touch the page cache until `COMMIT`), and `BEGIN IMMEDIATE`, tried without waiting: in one
/// process the writer lock is already held, and only another process holding the file sends it
/// to the blocking pool to wait there. `COMMIT` and autocommit writes may sync, so they always go.
fn try_inline(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Option<Result<QueryResult, Error>> {
    if sql == IMMEDIATE_BEGIN {
        conn.busy_timeout(std::time::Duration::ZERO).ok()?;
        let outcome = conn.execute_batch(sql);
        // Restored whatever the outcome: a transaction that did begin must not be begun again
        // on the blocking pool. (Setting the timeout cannot fail on an open connection.)
        let _ = conn.busy_timeout(embedded_sqlite::BUSY_TIMEOUT);
        return match outcome {
            Ok(()) => Some(Ok(QueryResult {
                columns: Vec::new(),
                rows: Vec::new(),
            })),
            Err(_) => None,
        };
    }
    let head = sql.trim_start();
    let ends = ["COMMIT", "END", "ROLLBACK"].iter().any(|w| {
        head.get(..w.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(w))
    });
    let cheap = embedded_sqlite::reads_only(sql) || (!conn.is_autocommit() && !ends);
    cheap.then(|| run_sqlite(conn, sql, params.to_vec()))
}

impl Drop for SqlConn {
    fn drop(&mut self) {
        match self {
            SqlConn::Sqlite { pool, conn, .. } => {
                // Rolls back an unfinished transaction before the write lock is released.
                if let Some(c) = conn.take() {
                    pool.checkin(c);
                }
            }
            // PgConn's own Drop returns (or discards) its pooled client.
            SqlConn::Postgres(_) => {}
        }
    }
}

fn io_error(e: anyhow::Error) -> Error {
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
