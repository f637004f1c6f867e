//! PostgreSQL behind the `sqlite` interface (keyward extension `type = "postgres"`).
//!
//! Components send the portable SQL of docs/platform.md, "Design: portable SQL" unchanged; the host translates `?`
//! placeholders to `$n` (`pg_sql`, which reads the statement's text), converts each parameter to
//! the type PostgreSQL inferred for it, and maps result columns back to the interface's five
//! value kinds.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use pg_sql::{
    idempotent_ddl_target, is_wal_checkpoint, transaction_effect, translate_placeholders,
};

use super::values::{Error, QueryResult, ResultBudget, RowResult, Value};
use crate::capabilities::{BackendUnavailable, debug_label};

/// How long a request waits for a pooled connection or a new one before the backend counts as
/// unavailable for it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool,
    label: String,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_label(f, "PgDatabase", &self.label)
    }
}

impl PgDatabase {
    /// Builds the pool. No connection is made here: a database that is down at start only makes
    /// its own routes fail (503) until it comes back.
    pub fn new(label: &str, url: &str, pool_size: usize) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("sqlite_database.{label}: invalid postgres url"))?;
        if config.get_ssl_mode() != tokio_postgres::config::SslMode::Disable
            && url.contains("sslmode=require")
        {
            bail!(
                "sqlite_database.{label}: sslmode=require is not supported yet; reach PostgreSQL over a trusted network or a local TLS proxy"
            );
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .create_timeout(Some(ACQUIRE_TIMEOUT))
            .recycle_timeout(Some(ACQUIRE_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .with_context(|| format!("sqlite_database.{label}: cannot build connection pool"))?;
        Ok(PgDatabase {
            pool,
            label: label.to_string(),
        })
    }

    /// The most connections this label's pool opens (each holds one file descriptor).
    pub fn max_connections(&self) -> usize {
        self.pool.status().max_size
    }

    /// `SELECT 1` on a pooled connection, for `/readyz`. Only the error's own text is kept:
    /// it never holds the URL (and so no password).
    pub async fn ping(&self) -> Result<(), String> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| format!("cannot get a connection: {e}"))?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    pub fn connect(&self) -> PgConn {
        PgConn {
            db: self.clone(),
            client: None,
            in_transaction: false,
        }
    }
}

/// A guest connection: one pooled client held for the resource's lifetime, so a guest's
/// `BEGIN` … `COMMIT` run on one session.
pub struct PgConn {
    db: PgDatabase,
    client: Option<Object>,
    in_transaction: bool,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_label(f, "PgConn", &self.db.label)
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if self.in_transaction
            && let Some(client) = self.client.take()
        {
            // Closing the session is how PostgreSQL rolls back a transaction a trapped guest left
            // open; the pool then opens a fresh connection.
            drop(Object::take(client));
        }
    }
}

impl PgConn {
    pub async fn execute(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Result<QueryResult, Error>, BackendUnavailable> {
        if self.client.is_none() {
            let client = self.db.pool.get().await.map_err(|e| {
                BackendUnavailable::new(&self.db.label, format!("cannot get a connection: {e}"))
            })?;
            self.client = Some(client);
        }
        let Some(client) = self.client.as_ref() else {
            return Ok(Err(Error::InvalidConnection));
        };
        if is_wal_checkpoint(sql) {
            // SQLite's WAL checkpoint after an erasure (docs/OPERATIONS.md, "Erasure"):
            // PostgreSQL has no per-database WAL file to truncate, so there is nothing to do.
            return Ok(Ok(QueryResult {
                columns: Vec::new(),
                rows: Vec::new(),
            }));
        }
        let translated = translate_placeholders(sql);
        let outcome = match idempotent_ddl_target(sql) {
            Some(name) => create_if_missing(client, &translated, name, self.in_transaction).await,
            None => run(client, &translated, params).await,
        };
        if client.is_closed() {
            self.client = None;
            self.in_transaction = false;
            return Err(BackendUnavailable::new(
                &self.db.label,
                "connection lost".into(),
            ));
        }
        if outcome.is_ok() {
            self.track_transaction(sql);
        }
        Ok(outcome)
    }

    /// Whether a transaction the guest began is open on this connection.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn track_transaction(&mut self, sql: &str) {
        if let Some(open) = transaction_effect(sql) {
            self.in_transaction = open;
        }
    }
}

/// Advisory-lock key under which keyward's schema statements run (any fixed 64-bit value that
/// other applications of the database are unlikely to use).
const DDL_LOCK_KEY: i64 = 0x6b65_7977_6172_6444; // "keywardD"

/// `CREATE TABLE|INDEX IF NOT EXISTS`, made as race-free as it is on SQLite.
///
/// Components create their tables on first use, so several hosts (or instances) run the same
/// schema statements at once. On PostgreSQL, concurrent `CREATE … IF NOT EXISTS` of one name can
/// fail in all sessions but one with a catalog unique violation. Here an existing object answers
/// at once (a catalog lookup, the common case), and a missing one is created under a transaction
/// advisory lock, so the second creator waits for the first and then finds the object.
async fn create_if_missing(
    client: &Object,
    ddl: &str,
    name: &str,
    in_transaction: bool,
) -> Result<QueryResult, Error> {
    let empty = QueryResult {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .and_then(|row| row.try_get::<_, bool>(0))
        .map_err(pg_error)?;
    if exists {
        return Ok(empty);
    }
    if !in_transaction {
        client.batch_execute("BEGIN").await.map_err(pg_error)?;
    }
    let created = async {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK_KEY])
            .await?;
        client.batch_execute(ddl).await
    }
    .await;
    if in_transaction {
        // The guest's own COMMIT releases the lock.
        return created.map(|()| empty).map_err(pg_error);
    }
    match created {
        Ok(()) => {
            client.batch_execute("COMMIT").await.map_err(pg_error)?;
            Ok(empty)
        }
        Err(e) => {
            // Best effort: a failed ROLLBACK means a broken session, which the caller detects.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(pg_error(e))
        }
    }
}

async fn run(client: &Object, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
    let stmt = client.prepare_cached(sql).await.map_err(pg_error)?;
    if stmt.params().len() != params.len() {
        return Err(Error::Io(format!(
            "statement has {} placeholders but {} parameters were given",
            stmt.params().len(),
            params.len()
        )));
    }
    let params: Vec<Param> = params.into_iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&stmt, &refs).await.map_err(pg_error)?;
    let columns: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    let mut budget = ResultBudget::default();
    for row in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in row.columns().iter().enumerate() {
            let value = column_value(row, i, column.type_())?;
            budget.take(&value)?;
            values.push(value);
        }
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

fn pg_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        // The server's message names the problem (constraint, syntax); it never echoes values.
        Some(db) => Error::Io(format!("{} ({})", db.message(), db.code().code())),
        None => Error::Io(e.to_string()),
    }
}

fn column_value(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<Value, Error> {
    let conv = |e: tokio_postgres::Error| Error::Io(format!("cannot read column {i}: {e}"));
    Ok(match *ty {
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(conv)?.map(|v| Value::Integer(v.into())),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(conv)?.map(|v| Value::Integer(v.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(conv)?.map(Value::Integer),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(conv)?.map(|v| Value::Real(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(conv)?.map(Value::Real),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(conv)?.map(|v| Value::Integer(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map_err(conv)?.map(Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<String>>(i).map_err(conv)?.map(Value::Text)
        }
        ref other => {
            return Err(Error::Io(format!(
                "column {i} has type {other}, which the sqlite interface cannot carry; cast it to BIGINT, DOUBLE PRECISION, TEXT or BYTEA"
            )));
        }
    }
    .unwrap_or(Value::Null))
}

/// A parameter converted to whatever type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
struct Param(Value);

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!(
                "a {} value cannot be used where PostgreSQL expects {ty}",
                kind(&self.0)
            )
            .into()
        };
        match (&self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Integer(i), &Type::INT4) => {
                i32::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Value::Integer(i), &Type::INT2) => {
                i16::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Value::Integer(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Integer(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Integer(i), t) if is_text(t) => i.to_string().to_sql(&Type::TEXT, out),
            (Value::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Value::Text(s), t) if is_text(t) => s.to_sql(&Type::TEXT, out),
            (Value::Blob(b), &Type::BYTEA) => b.to_sql(ty, out),
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, where both the value and the type are known.
        true
    }

    to_sql_checked!();
}

fn is_text(t: &Type) -> bool {
    matches!(
        *t,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
        Value::Null => "null",
    }
}
