//! Redis behind the `key-value` interface (`type = "redis"`, Spin's format).
//!
//! Each label is one Redis hash, `<prefix>kv:<label>`, so `get-keys` reads exactly one label's
//! keys (`HKEYS`) and never scans the keyspace. `prefix` (keyward extension, default empty)
//! lets several deployments share one Redis.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::capabilities::{BackendUnavailable, debug_label};

const TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisKv {
    client: redis::Client,
    /// Created on first use, so a Redis that is down at start only fails its own requests;
    /// afterwards the manager reconnects by itself.
    manager: OnceCell<ConnectionManager>,
    hash: String,
    label: String,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_label(f, "RedisKv", &self.label)
    }
}

pub type KvResult<T> = Result<Result<T, String>, BackendUnavailable>;

impl RedisKv {
    pub fn new(label: &str, url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("key_value_store.{label}: invalid redis url: {e}"))?;
        Ok(RedisKv {
            client,
            manager: OnceCell::new(),
            hash: format!("{prefix}kv:{label}"),
            label: label.to_string(),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, BackendUnavailable> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(TIMEOUT)
                    .set_response_timeout(TIMEOUT)
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(manager.clone())
    }

    fn unavailable(&self, e: &redis::RedisError) -> BackendUnavailable {
        BackendUnavailable::new(&self.label, e.to_string())
    }

    /// Connection-level failures make the backend unavailable; anything else is the command's
    /// own error, reported to the guest.
    fn classify<T>(&self, r: redis::RedisResult<T>) -> KvResult<T> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(e)
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal() =>
            {
                Err(self.unavailable(&e))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// `PING`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), String> {
        let mut c = self.conn().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut c = self.conn().await?;
        self.classify(c.hget(&self.hash, key).await)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        let mut c = self.conn().await?;
        self.classify(c.hset::<_, _, _, ()>(&self.hash, key, value).await)
    }

    pub async fn delete(&self, key: &str) -> KvResult<()> {
        let mut c = self.conn().await?;
        self.classify(c.hdel::<_, _, ()>(&self.hash, key).await)
    }

    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        let mut c = self.conn().await?;
        self.classify(c.hexists(&self.hash, key).await)
    }

    pub async fn get_keys(&self) -> KvResult<Vec<String>> {
        let mut c = self.conn().await?;
        let mut keys: Vec<String> = match self.classify(c.hkeys(&self.hash).await)? {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        keys.sort();
        Ok(Ok(keys))
    }
}
