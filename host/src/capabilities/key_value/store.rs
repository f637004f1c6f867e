//! Key-value backends. The embedded one keeps every label as rows of one SQLite table
//! (`store`, `key`, `value`), as Spin's own embedded store does; Redis keeps one hash per label.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::redis::{KvResult, RedisKv};
use embedded_sqlite::SqlitePool;

/// One open store: a label bound to its backend. This is the host side of the guest's
/// `key-value.store` resource.
#[derive(Debug, Clone)]
pub enum KvStore {
    Sqlite {
        pool: Arc<SqlitePool>,
        label: String,
    },
    Redis(Arc<RedisKv>),
}

/// Embedded-store errors (disk, corruption) are reported to the guest as `other`.
fn local<T>(r: Result<T>) -> KvResult<T> {
    Ok(r.map_err(|e| format!("{e:#}")))
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

/// Creates the table once per file at start, so request paths never run DDL.
pub fn init_sqlite(pool: &SqlitePool) -> Result<()> {
    let conn = pool.checkout()?;
    let r = conn.execute_batch(SCHEMA);
    pool.checkin(conn);
    Ok(r?)
}

impl KvStore {
    pub async fn get(&self, key: String) -> KvResult<Option<Vec<u8>>> {
        match self {
            KvStore::Redis(r) => r.get(&key).await,
            KvStore::Sqlite { pool, label } => {
                let label = label.clone();
                let r = pool
                    .run(move |c| {
                        let mut st = c.prepare_cached(
                            "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        )?;
                        Ok(st.query_row(params![label, key], |r| r.get(0)).optional()?)
                    })
                    .await;
                local(r)
            }
        }
    }

    pub async fn set(&self, key: String, value: Vec<u8>) -> KvResult<()> {
        match self {
            KvStore::Redis(r) => r.set(&key, &value).await,
            KvStore::Sqlite { pool, label } => {
                let label = label.clone();
                let r = pool
                    .run_write(move |c| {
                        let mut st = c.prepare_cached(
                            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                        )?;
                        st.execute(params![label, key, value])?;
                        Ok(())
                    })
                    .await;
                local(r)
            }
        }
    }

    pub async fn delete(&self, key: String) -> KvResult<()> {
        match self {
            KvStore::Redis(r) => r.delete(&key).await,
            KvStore::Sqlite { pool, label } => {
                let label = label.clone();
                let r = pool
                    .run_write(move |c| {
                        let mut st = c.prepare_cached(
                            "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        )?;
                        st.execute(params![label, key])?;
                        Ok(())
                    })
                    .await;
                local(r)
            }
        }
    }

    pub async fn exists(&self, key: String) -> KvResult<bool> {
        match self {
            KvStore::Redis(r) => r.exists(&key).await,
            KvStore::Sqlite { pool, label } => {
                let label = label.clone();
                let r = pool
                    .run(move |c| {
                        let mut st = c.prepare_cached(
                            "SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        )?;
                        Ok(st.exists(params![label, key])?)
                    })
                    .await;
                local(r)
            }
        }
    }

    pub async fn get_keys(&self) -> KvResult<Vec<String>> {
        match self {
            KvStore::Redis(r) => r.get_keys().await,
            KvStore::Sqlite { pool, label } => {
                let label = label.clone();
                let r = pool
                    .run(move |c| {
                        let mut st = c.prepare_cached(
                            "SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key",
                        )?;
                        let keys = st
                            .query_map(params![label], |r| r.get(0))?
                            .collect::<rusqlite::Result<Vec<String>>>()?;
                        Ok(keys)
                    })
                    .await;
                local(r)
            }
        }
    }
}
