//! Key-value backends. The embedded one keeps every label as rows of one SQLite table
//! (`store`, `key`, `value`), as Spin's own embedded store does; Redis keeps one hash per label.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use super::redis::{KvResult, RedisKv};
use embedded_sqlite::SqlitePool;

/// One open store: a label bound to its backend. This is the host side of the guest's
/// `key-value.store` resource.
#[derive(Debug, Clone)]
pub enum KvStore {
    Sqlite(Arc<EmbeddedKv>),
    Redis(Arc<RedisKv>),
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

impl KvStore {
    pub async fn get(&self, key: String) -> KvResult<Option<Vec<u8>>> {
        match self {
            KvStore::Redis(r) => r.get(&key).await,
            KvStore::Sqlite(s) => s.get(key).await,
        }
    }

    pub async fn set(&self, key: String, value: Vec<u8>) -> KvResult<()> {
        match self {
            KvStore::Redis(r) => r.set(&key, &value).await,
            KvStore::Sqlite(s) => s.set(key, value).await,
        }
    }

    pub async fn delete(&self, key: String) -> KvResult<()> {
        match self {
            KvStore::Redis(r) => r.delete(&key).await,
            KvStore::Sqlite(s) => s.delete(key).await,
        }
    }

    pub async fn exists(&self, key: String) -> KvResult<bool> {
        match self {
            KvStore::Redis(r) => r.exists(&key).await,
            KvStore::Sqlite(s) => s.exists(key).await,
        }
    }

    pub async fn get_keys(&self) -> KvResult<Vec<String>> {
        match self {
            KvStore::Redis(r) => r.get_keys().await,
            KvStore::Sqlite(s) => s.get_keys().await,
        }
    }

    /// Whether the backend answers (`/readyz`): the file `SELECT 1`, Redis `PING`.
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            KvStore::Redis(r) => r.ping().await,
            KvStore::Sqlite(s) => embedded_ping(&s.pool).await,
        }
    }

    /// Which backend this is, for metrics.
    pub fn backend(&self) -> crate::observability::metrics::Backend {
        use crate::observability::metrics::Backend;
        match self {
            KvStore::Redis(_) => Backend::Redis,
            KvStore::Sqlite(_) => Backend::EmbeddedKv,
        }
    }
}

/// An embedded SQLite file answers `SELECT 1` on a pooled connection (opened if none is idle).
pub async fn embedded_ping(pool: &Arc<SqlitePool>) -> Result<(), String> {
    pool.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// One label's rows in an embedded SQLite file.
#[derive(Debug)]
pub struct EmbeddedKv {
    pool: Arc<SqlitePool>,
    label: String,
}

impl EmbeddedKv {
    /// Creates the table once per file at start, so request paths never run DDL.
    pub fn new(pool: Arc<SqlitePool>, label: &str) -> Result<Self> {
        let conn = pool.checkout()?;
        let r = conn.execute_batch(SCHEMA);
        pool.checkin(conn);
        r?;
        Ok(EmbeddedKv {
            pool,
            label: label.to_owned(),
        })
    }

    /// Runs `f` with this label on a pooled connection (a write queues behind the file's write
    /// lock). Embedded-store errors (disk, corruption) are reported to the guest as `other`.
    async fn run<T, F>(&self, write: bool, f: F) -> KvResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &str) -> Result<T> + Send + 'static,
    {
        let label = self.label.clone();
        let work = move |c: &Connection| f(c, &label);
        let r = if write {
            self.pool.run_write(work).await
        } else {
            self.pool.run(work).await
        };
        Ok(r.map_err(|e| format!("{e:#}")))
    }

    async fn get(&self, key: String) -> KvResult<Option<Vec<u8>>> {
        self.run(false, move |c, label| {
            let mut st =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            Ok(st.query_row(params![label, key], |r| r.get(0)).optional()?)
        })
        .await
    }

    async fn set(&self, key: String, value: Vec<u8>) -> KvResult<()> {
        self.run(true, move |c, label| {
            let mut st = c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?;
            st.execute(params![label, key, value])?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: String) -> KvResult<()> {
        self.run(true, move |c, label| {
            let mut st =
                c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            st.execute(params![label, key])?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, key: String) -> KvResult<bool> {
        self.run(false, move |c, label| {
            let mut st =
                c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            Ok(st.exists(params![label, key])?)
        })
        .await
    }

    async fn get_keys(&self) -> KvResult<Vec<String>> {
        self.run(false, |c, label| {
            let mut st =
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let keys = st
                .query_map(params![label], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(keys)
        })
        .await
    }
}
