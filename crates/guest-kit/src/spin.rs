//! Adapters from the kit's traits and types to spin-sdk 5.2 (wasm only).
//!
//! Only what a component calls gets imported: a component that never touches
//! `SpinKv` or `variable` does not import those Spin interfaces.

use std::cell::OnceCell;

use futures::StreamExt;
use spin_sdk::http::IncomingRequest;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::Connection;

use crate::http::{Request, Response};
use crate::kv::{Kv, KvError};
use crate::sql::{Db, DbError, Rows, Value};

fn db_error(e: &spin_sdk::sqlite::Error) -> DbError {
    use spin_sdk::sqlite::Error as E;
    match e {
        E::NoSuchDatabase => DbError::NoSuchDatabase,
        E::AccessDenied => DbError::AccessDenied,
        E::InvalidConnection => DbError::InvalidConnection,
        E::DatabaseFull => DbError::DatabaseFull,
        E::Io(msg) => DbError::Io(msg.clone()),
    }
}

fn kv_error(e: &spin_sdk::key_value::Error) -> KvError {
    use spin_sdk::key_value::Error as E;
    match e {
        E::NoSuchStore => KvError::NoSuchStore,
        E::AccessDenied => KvError::AccessDenied,
        E::StoreTableFull => KvError::StoreTableFull,
        E::Other(msg) => KvError::Other(msg.clone()),
    }
}

/// A Spin SQLite database, opened on first use so that requests that never
/// touch storage (404, 405, 413, ...) do not open it.
pub struct SpinDb {
    label: String,
    conn: OnceCell<Result<Connection, DbError>>,
}

impl SpinDb {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            conn: OnceCell::new(),
        }
    }

    fn conn(&self) -> Result<&Connection, DbError> {
        self.conn
            .get_or_init(|| Connection::open(&self.label).map_err(|e| db_error(&e)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn to_spin(v: &Value) -> spin_sdk::sqlite::Value {
    use spin_sdk::sqlite::Value as S;
    match v {
        Value::Integer(i) => S::Integer(*i),
        Value::Real(r) => S::Real(*r),
        Value::Text(s) => S::Text(s.clone()),
        Value::Blob(b) => S::Blob(b.clone()),
        Value::Null => S::Null,
    }
}

fn from_spin(v: spin_sdk::sqlite::Value) -> Value {
    use spin_sdk::sqlite::Value as S;
    match v {
        S::Integer(i) => Value::Integer(i),
        S::Real(r) => Value::Real(r),
        S::Text(s) => Value::Text(s),
        S::Blob(b) => Value::Blob(b),
        S::Null => Value::Null,
    }
}

impl Db for SpinDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<_> = params.iter().map(to_spin).collect();
        let result = self
            .conn()?
            .execute(sql, &params)
            .map_err(|e| db_error(&e))?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|r| r.values.into_iter().map(from_spin).collect())
                .collect(),
        })
    }
}

/// A Spin key-value store, opened on first use.
pub struct SpinKv {
    label: String,
    store: OnceCell<Result<Store, KvError>>,
}

impl SpinKv {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            store: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&Store, KvError> {
        self.store
            .get_or_init(|| Store::open(&self.label).map_err(|e| kv_error(&e)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store()?.get(key).map_err(|e| kv_error(&e))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.store()?.set(key, value).map_err(|e| kv_error(&e))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store()?.delete(key).map_err(|e| kv_error(&e))
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.store()?.exists(key).map_err(|e| kv_error(&e))
    }
}

/// A Spin variable; `None` when undefined for this component or unreadable
/// (callers treat both as "not configured").
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).ok()
}

/// Converts Spin's incoming request, reading at most `max_body + 1` body
/// bytes: enough for the service to see that the body is too large (413)
/// without buffering an unbounded upload.
pub async fn read_request(req: IncomingRequest, max_body: usize) -> Request {
    let method = req.method().to_string();
    // wasi:http gives the guest the origin-form target as received by the
    // listener; the scheme/authority are separate and not part of it.
    let path_and_query = req.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers = req.headers().entries();
    let cap = max_body.saturating_add(1);
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                let room = cap.saturating_sub(body.len());
                body.extend(bytes.into_iter().take(room));
                if body.len() >= cap {
                    break;
                }
            }
            // A broken upload: keep what arrived; the service's checks (size,
            // signature) decide, and a truncated body cannot authenticate.
            Err(_) => break,
        }
    }
    Request {
        method,
        path_and_query,
        headers,
        body,
    }
}

/// Converts the kit's response into Spin's.
pub fn into_spin_response(resp: Response) -> spin_sdk::http::Response {
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(resp.status);
    for (name, value) in &resp.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.body(resp.body);
    builder.build()
}
