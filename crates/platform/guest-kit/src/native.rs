//! Native backends for tests of service cores: `Db` over a real SQLite file
//! (rusqlite, bundled SQLite) and `Kv` over a table in SQLite.

use std::path::Path;
use std::sync::Mutex;

use embedded_sqlite::{Synchronous, WriterGuard, WriterQueue, immediate_begin};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::kv::{Kv, KvError};
use crate::sql::{Db, DbError, Rows, Value};

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Integer(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn io(e: rusqlite::Error) -> DbError {
    DbError::Io(e.to_string())
}

/// A SQLite database file; each instance is one connection, opened and queued as the keyward
/// host does it (the `embedded-sqlite` crate): WAL, the sync level asked for, writers queued on
/// one lock per file from an autocommit write's start to its end or from `BEGIN` (run as
/// `BEGIN IMMEDIATE`) to its end. Open several on one file to test concurrency.
pub struct SqliteDb {
    conn: Mutex<Connection>,
    writer: WriterQueue,
    /// The file's write lock while this connection writes.
    writing: Mutex<Option<WriterGuard>>,
}

impl SqliteDb {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        Self::open_with(path, Synchronous::Full)
    }

    /// At a chosen sync level (the benchmark's native baseline matches the host's).
    pub fn open_with(path: impl AsRef<Path>, synchronous: Synchronous) -> Result<Self, DbError> {
        let path = path.as_ref();
        Ok(Self {
            conn: Mutex::new(embedded_sqlite::open(path, synchronous).map_err(io)?),
            writer: WriterQueue::for_file(path),
            writing: Mutex::new(None),
        })
    }

    pub fn open_in_memory() -> Result<Self, DbError> {
        let conn = Connection::open_in_memory().map_err(io)?;
        Ok(Self {
            conn: Mutex::new(conn),
            writer: WriterQueue::default(),
            writing: Mutex::new(None),
        })
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        let writing = self.writing.get_mut().map(Option::take).unwrap_or(None);
        if writing.is_some() {
            // Roll back an unfinished transaction before the next writer goes.
            if let Ok(conn) = self.conn.lock()
                && !conn.is_autocommit()
            {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        drop(writing);
    }
}

impl Db for SqliteDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| DbError::Io("connection lock poisoned".into()))?;
        let mut writing = self
            .writing
            .lock()
            .map_err(|_| DbError::Io("connection lock poisoned".into()))?;
        if writing.is_none() && !embedded_sqlite::reads_only(sql) {
            *writing = Some(self.writer.lock_blocking());
        }
        let result = run(&conn, &immediate_begin(sql.to_owned()), params);
        if conn.is_autocommit() {
            // An autocommit write is done, or the transaction was committed or rolled back.
            *writing = None;
        }
        result
    }
}

fn run(conn: &Connection, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
    let mut stmt = conn.prepare_cached(sql).map_err(io)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(io)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(io)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(from_ref(row.get_ref(i).map_err(io)?));
        }
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

/// A key-value store kept in a SQLite table, so it survives "restarts" of a
/// test (a new `SqliteKv` on the same file).
pub struct SqliteKv {
    db: SqliteDb,
}

impl SqliteKv {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KvError> {
        let db = SqliteDb::open(path).map_err(|e| KvError::Other(e.to_string()))?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
            &[],
        )
        .map_err(|e| KvError::Other(e.to_string()))?;
        Ok(Self { db })
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<Rows, KvError> {
        self.db
            .execute(sql, params)
            .map_err(|e| KvError::Other(e.to_string()))
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

impl Kv for SqliteKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let rows = self.run("SELECT v FROM kv WHERE k = ?", &[key.into()])?;
        match rows.first().and_then(|r| r.text(0).map(str::to_owned)) {
            Some(hex) => from_hex(&hex)
                .map(Some)
                .ok_or_else(|| KvError::Other("corrupt value".into())),
            None => Ok(None),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.run(
            "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            &[key.into(), to_hex(value).into()],
        )?;
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.run("DELETE FROM kv WHERE k = ?", &[key.into()])?;
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(!self
            .run("SELECT 1 FROM kv WHERE k = ?", &[key.into()])?
            .is_empty())
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let rows = self.run("SELECT k FROM kv", &[])?;
        rows.iter()
            .map(|r| {
                r.text(0)
                    .map(str::to_owned)
                    .ok_or_else(|| KvError::Other("corrupt key".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_roundtrip_and_returning() {
        let db = SqliteDb::open_in_memory().expect("open");
        db.execute(
            "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, x TEXT)",
            &[],
        )
        .expect("create");
        db.execute(
            "INSERT INTO t (id, n, x) VALUES (?, ?, ?)",
            &["a".into(), 5i64.into(), Value::Null],
        )
        .expect("insert");
        let rows = db
            .execute("DELETE FROM t WHERE id = ? RETURNING n, x", &["a".into()])
            .expect("delete");
        let row = rows.first().expect("row");
        assert_eq!(row.integer(0), Some(5));
        assert!(row.is_null(1));
        let again = db
            .execute("DELETE FROM t WHERE id = ? RETURNING n", &["a".into()])
            .expect("delete");
        assert!(again.is_empty());
    }

    #[test]
    fn sqlite_kv() {
        // A directory of its own, removed as a whole once the connection is closed, so the
        // database's `-wal` and `-shm` files go with it.
        let dir = std::env::temp_dir().join(format!("guest-kit-kv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let kv = SqliteKv::open(dir.join("kv.db")).expect("open");
        kv.set("a", &[0, 255]).expect("set");
        assert_eq!(kv.get("a"), Ok(Some(vec![0, 255])));
        kv.set("a", &[1]).expect("set");
        assert_eq!(kv.get("a"), Ok(Some(vec![1])));
        kv.set("b", &[2]).expect("set");
        kv.delete("a").expect("del");
        assert_eq!(kv.get("a"), Ok(None));
        assert_eq!(kv.get_keys(), Ok(vec!["b".to_owned()]));
        drop(kv);
        std::fs::remove_dir_all(&dir).expect("remove the test's directory");
    }
}
