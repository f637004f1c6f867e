//! The host's embedded SQLite files, shared by its key-value and SQLite capabilities: one pool
//! per file ([`EmbeddedFiles`]), however many labels map to it.
//!
//! A small pool of connections to one embedded SQLite file.
//!
//! SQLite calls block, so every use runs on tokio's blocking pool. Connections are reused (their
//! prepared-statement caches are what makes small queries cheap) and handed back in autocommit
//! mode: a guest that began a transaction and then trapped must not leak it to the next user.
//!
//! SQLite allows one writer per file. Left to itself, a second writer polls with SQLite's busy
//! handler, sleeping between tries, and a transaction that read before writing can fail outright
//! when another commit got in first. So writers queue here instead, on the file's
//! [`WriterQueue`], in arrival order and without holding a thread while they wait.
//!
//! Connections per file are capped (`--sqlite-max-connections`): each holds three file
//! descriptors, and without a cap a burst of instances could open enough of them to leave the
//! host unable to accept connections. A user beyond the cap waits for a connection to be returned
//! ([`SqlitePool::permit`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::group_commit::BatchState;
use crate::{BUSY_TIMEOUT, Synchronous, WriterGuard, WriterQueue};

/// Idle connections kept per file; more are opened under load and closed when returned.
const MAX_IDLE: usize = 16;
/// Default cap on open connections per file (`--sqlite-max-connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;

#[derive(Debug)]
pub struct SqlitePool {
    path: PathBuf,
    synchronous: Synchronous,
    idle: Mutex<Vec<Connection>>,
    pub(crate) writer: WriterQueue,
    /// One permit per connection that may be open (idle ones hold none).
    permits: Arc<tokio::sync::Semaphore>,
    max_connections: usize,
    /// Writers share commits (see `group_commit`); off, each writer commits its own batch.
    group_commit: bool,
    /// The batch connection every write goes through, and its batches.
    batch: Mutex<BatchState>,
}

impl SqlitePool {
    /// Opens (creating if needed) the file and its directory, switching it to WAL.
    pub fn open(
        path: &Path,
        synchronous: Synchronous,
        max_connections: usize,
        group_commit: bool,
    ) -> Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let pool = Arc::new(SqlitePool {
            path: path.to_path_buf(),
            synchronous,
            idle: Mutex::new(Vec::new()),
            writer: WriterQueue::for_file(path),
            permits: Arc::new(tokio::sync::Semaphore::new(max_connections.max(1))),
            max_connections: max_connections.max(1),
            group_commit,
            batch: Mutex::new(BatchState::default()),
        });
        let first = pool.connect()?;
        pool.checkin(first);
        Ok(pool)
    }

    pub(crate) fn connect(&self) -> Result<Connection> {
        crate::open(&self.path, self.synchronous)
            .with_context(|| format!("cannot open SQLite database {}", self.path.display()))
    }

    #[cfg(test)]
    pub(crate) fn path_for_tests(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether writers share commits (docs/platform.md, "Design: group commit").
    pub fn group_commit(&self) -> bool {
        self.group_commit
    }

    pub(crate) fn batch_state(&self) -> std::sync::MutexGuard<'_, BatchState> {
        self.batch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The file's write lock (see [`WriterQueue`]).
    pub async fn writer(&self) -> WriterGuard {
        self.writer.lock().await
    }

    /// The right to hold one connection of this file; kept for as long as the connection is
    /// out. Waits like a busy writer does, then reports the file as busy.
    pub async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        match tokio::time::timeout(BUSY_TIMEOUT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => anyhow::bail!(
                "all {} connections to {} are busy",
                self.max_connections,
                self.path.display()
            ),
        }
    }

    /// A connection, idle or new. Callers on request paths hold a [`permit`](Self::permit).
    pub fn checkout(&self) -> Result<Connection> {
        let reused = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match reused {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    pub fn checkin(&self, conn: Connection) {
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return; // drop the connection rather than reuse one in an unknown state
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.clone();
        let permit = self.permit().await?;
        tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let out = f(&conn);
            pool.checkin(conn);
            drop(permit);
            out
        })
        .await
        .context("storage task failed")?
    }

    /// A single write (`f` on the batch connection, in a savepoint of its own), acknowledged
    /// once its batch is durable.
    pub async fn run_write<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        self.write_once(f).await?
    }

    /// One write outside a transaction: `f` on the batch connection in a savepoint of its own,
    /// kept when it returns `Ok`, rolled back when it returns `Err`. Either way it is answered
    /// once its batch is durable: a failure may stem from the batch's earlier writers (a
    /// duplicate key they inserted), and must not be reported before their work is. The outer
    /// error is the storage's; the inner one is `f`'s.
    pub async fn write_once<T, E, F>(self: &Arc<Self>, f: F) -> Result<std::result::Result<T, E>>
    where
        F: FnOnce(&Connection) -> std::result::Result<T, E>,
        E: crate::StorageFailure,
    {
        let mut writing = self.begin_write().await?;
        let out = f(writing.conn()?);
        if out.as_ref().is_err_and(crate::StorageFailure::is_disk_full) {
            writing.mark_full();
        }
        let pending = writing.finish(out.is_ok())?;
        self.durable(pending).await?;
        Ok(out)
    }
}

/// Every embedded SQLite file the host opened: labels that map to the same path share its pool.
pub struct EmbeddedFiles {
    open: HashMap<PathBuf, Arc<SqlitePool>>,
    synchronous: Synchronous,
    max_connections: usize,
    group_commit: bool,
}

impl EmbeddedFiles {
    pub fn new(synchronous: Synchronous, max_connections: usize, group_commit: bool) -> Self {
        EmbeddedFiles {
            open: HashMap::new(),
            synchronous,
            max_connections: max_connections.max(1),
            group_commit,
        }
    }

    pub fn open(&mut self, path: PathBuf) -> Result<Arc<SqlitePool>> {
        if let Some(pool) = self.open.get(&path) {
            return Ok(pool.clone());
        }
        let pool = SqlitePool::open(
            &path,
            self.synchronous,
            self.max_connections,
            self.group_commit,
        )?;
        self.open.insert(path, pool.clone());
        Ok(pool)
    }

    /// File descriptors these files may hold at most: three per connection (database, WAL,
    /// shared memory), the batch connection included.
    pub fn max_descriptors(&self) -> u64 {
        (self.open.len() * 3 * (self.max_connections + 1)) as u64
    }
}
