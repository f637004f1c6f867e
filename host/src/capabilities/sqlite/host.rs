//! `fermyon:spin/sqlite` with Spin's semantics: access is decided at `open` (a database the
//! component was not granted is `access-denied`); a guest's connection stays on one backend
//! connection until dropped, so `BEGIN … COMMIT` works.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::database::{SqlConn, SqlDatabase};
use super::values::{Error, QueryResult, Value};
use crate::capabilities::bindings::sqlite;
use crate::capabilities::{Granted, LabelGrants, MAX_OPEN_RESOURCES, Refused};
use crate::observability::metrics::StorageOp;
use crate::observability::observe_storage;

/// The databases a component was granted, each bound to its backend.
pub type SqliteGrants = LabelGrants<SqlDatabase>;

/// One instance's SQLite state: its grants and the connections it has open.
pub type SqliteState = Granted<SqlDatabase>;

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    state: fn(&mut T) -> &mut SqliteState,
) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<T, HasSelf<SqliteState>>(linker, state)
}

impl sqlite::Host for SqliteState {}

impl sqlite::HostConnection for SqliteState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConn>, sqlite::Error>> {
        Ok(self
            .open_label(&database, SqlDatabase::connect)?
            .map_err(|refused| match refused {
                Refused::NotGranted => sqlite::Error::AccessDenied,
                Refused::TooManyOpen => sqlite::Error::Io(format!(
                    "too many open connections (at most {MAX_OPEN_RESOURCES} per request)"
                )),
            }))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConn>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        let trace = self.trace.clone();
        let conn = self.open.get_mut(&conn)?;
        let params = parameters.into_iter().map(from_wit).collect();
        // An unreachable backend stops the instance (the host answers 503); a statement's own
        // failure is the guest's to handle.
        let outcome = observe_storage(
            conn.backend(),
            StorageOp::Execute,
            trace.as_deref(),
            conn.execute(statement, params),
        )
        .await
        .map_err(wasmtime::Error::new)?;
        Ok(outcome.map(to_wit).map_err(error_to_wit))
    }

    async fn drop(&mut self, conn: Resource<SqlConn>) -> wasmtime::Result<()> {
        // Dropping the SqlConn hands its pooled connection back (rolled back if mid-transaction).
        self.open.close(conn)
    }
}

fn from_wit(v: sqlite::Value) -> Value {
    match v {
        sqlite::Value::Integer(i) => Value::Integer(i),
        sqlite::Value::Real(f) => Value::Real(f),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(b) => Value::Blob(b),
        sqlite::Value::Null => Value::Null,
    }
}

fn value_to_wit(v: Value) -> sqlite::Value {
    match v {
        Value::Integer(i) => sqlite::Value::Integer(i),
        Value::Real(f) => sqlite::Value::Real(f),
        Value::Text(s) => sqlite::Value::Text(s),
        Value::Blob(b) => sqlite::Value::Blob(b),
        Value::Null => sqlite::Value::Null,
    }
}

fn to_wit(r: QueryResult) -> sqlite::QueryResult {
    sqlite::QueryResult {
        columns: r.columns,
        rows: r
            .rows
            .into_iter()
            .map(|row| sqlite::RowResult {
                values: row.values.into_iter().map(value_to_wit).collect(),
            })
            .collect(),
    }
}

fn error_to_wit(e: Error) -> sqlite::Error {
    match e {
        Error::InvalidConnection => sqlite::Error::InvalidConnection,
        Error::DatabaseFull => sqlite::Error::DatabaseFull,
        Error::Io(m) => sqlite::Error::Io(m),
    }
}
