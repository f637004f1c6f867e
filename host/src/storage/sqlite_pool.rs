//! A small pool of connections to one embedded SQLite file.
//!
//! SQLite calls block, so every use runs on tokio's blocking pool. Connections are reused (their
//! prepared-statement caches are what makes small queries cheap) and handed back in autocommit
//! mode: a guest that began a transaction and then trapped must not leak it to the next user.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

/// How long a writer waits for another writer before reporting "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per file; more are opened under load and closed when returned.
const MAX_IDLE: usize = 16;

#[derive(Debug)]
pub struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqlitePool {
    /// Opens (creating if needed) the file and its directory, switching it to WAL.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let pool = Arc::new(SqlitePool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        });
        let first = pool.connect()?;
        pool.checkin(first);
        Ok(pool)
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open(&self.path)
            .with_context(|| format!("cannot open SQLite database {}", self.path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers run beside the single writer. synchronous=FULL syncs the WAL at every
        // commit, so an acknowledged write survives a process kill and a power loss alike.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

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
        tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let out = f(&conn);
            pool.checkin(conn);
            out
        })
        .await
        .context("storage task failed")?
    }
}
