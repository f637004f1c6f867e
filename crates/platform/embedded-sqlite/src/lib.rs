//! Embedded SQLite as keyward runs it, in one place for the host, the native test backends of
//! the service crates and the benchmark's native baseline, so that all three behave alike:
//!
//! - every connection is opened the same way ([`open`]): WAL, the deployment's sync level
//!   ([`Synchronous`]), a busy timeout for other processes, a statement cache;
//! - writers to one file queue on one lock per file in this process ([`WriterQueue`]) instead of
//!   in SQLite's sleeping busy handler, judged by [`reads_only`];
//! - a plain `BEGIN` runs as `BEGIN IMMEDIATE` ([`immediate_begin`]);
//! - the host's pool of connections per file ([`pool`]), whose writers share commits
//!   ([`group_commit`]).

pub mod group_commit;
pub mod pool;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::Connection;

pub use group_commit::{Pending, Writing};
pub use pool::{DEFAULT_MAX_CONNECTIONS, EmbeddedFiles, SqlitePool};

/// The disk under a database is full (SQLite's `SQLITE_FULL`): a write or a commit failed for
/// want of space, and was rolled back. It travels inside the `anyhow` errors of this crate, so
/// that callers can answer it as what it is ([`is_full`]), not as a generic I/O failure.
#[derive(Debug)]
pub struct DiskFull;

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database or disk is full")
    }
}

impl std::error::Error for DiskFull {}

/// An error a write may fail with, which can tell whether it was for want of disk space.
pub trait StorageFailure {
    fn is_disk_full(&self) -> bool;
}

impl StorageFailure for anyhow::Error {
    fn is_disk_full(&self) -> bool {
        is_full(self)
    }
}

impl StorageFailure for rusqlite::Error {
    fn is_disk_full(&self) -> bool {
        self.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

/// Whether `e` (or anything it wraps) is a full disk.
pub fn is_full(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<DiskFull>()
            || cause
                .downcast_ref::<rusqlite::Error>()
                .is_some_and(StorageFailure::is_disk_full)
    })
}

/// How long a connection waits for another process's writer before "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How far a commit is synced before it is acknowledged (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Synchronous {
    /// Every commit is fsync'ed to the WAL: an acknowledged write survives a process crash and a
    /// power loss or OS crash.
    #[default]
    Full,
    /// Commits reach the OS before they are acknowledged and the WAL is synced at checkpoints:
    /// an acknowledged write survives a process crash (kill -9); a power loss or OS crash may
    /// drop the last commits (never corrupts the file).
    Normal,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Opens (creating) `path` the way every keyward connection is opened.
///
/// Opening can meet a lock that SQLite's busy handler does not wait for: while the last
/// connection to a WAL file closes, it checkpoints and removes the WAL under an exclusive lock,
/// and a connection opening at that moment gets "database is locked" at once. That lasts
/// moments, so the open is retried for up to [`BUSY_TIMEOUT`], like any other wait for a lock.
pub fn open(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match open_once(path, synchronous) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers run beside the single writer; see `Synchronous` for what each level
    // guarantees.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    // Erased data must not stay readable in the file: freed cells and pages are overwritten
    // with zeros as they are freed (docs/OPERATIONS.md, "Erasure").
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Whether a statement only reads, judged by its first keyword. Anything else (writes, DDL,
/// `BEGIN`, `PRAGMA`) counts as a writer: writers queue on one lock per file, and erring towards
/// "writer" only costs waiting for that lock.
pub fn reads_only(sql: &str) -> bool {
    let head = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next();
    head.is_some_and(|w| w.eq_ignore_ascii_case("SELECT") || w.eq_ignore_ascii_case("VALUES"))
}

/// What a plain `BEGIN` becomes.
pub const IMMEDIATE_BEGIN: &str = "BEGIN IMMEDIATE";

/// A plain `BEGIN` becomes `BEGIN IMMEDIATE`: the transaction takes the file's write lock at
/// once. A deferred transaction that reads and then writes fails outright
/// (`SQLITE_BUSY_SNAPSHOT`, no busy wait) when another process committed in between, which two
/// hosts sharing one state directory would otherwise hit.
pub fn immediate_begin(sql: String) -> String {
    let words: Vec<&str> = sql
        .trim()
        .trim_end_matches(';')
        .split_ascii_whitespace()
        .collect();
    let plain = match words.as_slice() {
        [b] => b.eq_ignore_ascii_case("BEGIN"),
        [b, t] => b.eq_ignore_ascii_case("BEGIN") && t.eq_ignore_ascii_case("TRANSACTION"),
        _ => false,
    };
    if plain {
        IMMEDIATE_BEGIN.to_owned()
    } else {
        sql
    }
}

/// The write lock of one file, shared by every user of that file in this process: held by an
/// autocommit write for its statement, and by an explicit transaction from `BEGIN` until it
/// ends. Async users wait without holding a thread ([`lock`](Self::lock)); blocking users
/// (native tests) use [`lock_blocking`](Self::lock_blocking).
#[derive(Debug, Clone, Default)]
pub struct WriterQueue(Arc<tokio::sync::Mutex<()>>);

/// A held write lock; released on drop.
pub type WriterGuard = tokio::sync::OwnedMutexGuard<()>;

impl WriterQueue {
    /// The queue of `path` (canonicalized, so two spellings of one file share it).
    pub fn for_file(path: &Path) -> WriterQueue {
        static QUEUES: OnceLock<Mutex<HashMap<PathBuf, WriterQueue>>> = OnceLock::new();
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut queues = QUEUES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queues.entry(key).or_default().clone()
    }

    pub async fn lock(&self) -> WriterGuard {
        self.0.clone().lock_owned().await
    }

    #[cfg(test)]
    pub(crate) fn clone_for_tests(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.0.clone()
    }

    /// For callers outside an async runtime (it panics inside one, as tokio's `blocking_lock`).
    pub fn lock_blocking(&self) -> WriterGuard {
        self.0.clone().blocking_lock_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_kinds() {
        assert!(reads_only("SELECT 1"));
        assert!(reads_only("  select x FROM t"));
        assert!(reads_only("VALUES (1)"));
        for w in [
            "INSERT INTO t VALUES (1)",
            "BEGIN",
            "PRAGMA journal_mode=WAL",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "CREATE TABLE t (a)",
            "",
            "SELECTED",
        ] {
            assert!(!reads_only(w), "{w}");
        }
    }

    #[test]
    fn plain_begin_takes_the_write_lock_at_once() {
        let b = immediate_begin;
        assert_eq!(b("BEGIN".into()), "BEGIN IMMEDIATE");
        assert_eq!(b(" begin transaction; ".into()), "BEGIN IMMEDIATE");
        assert_eq!(b("BEGIN IMMEDIATE".into()), "BEGIN IMMEDIATE");
        assert_eq!(b("BEGIN EXCLUSIVE".into()), "BEGIN EXCLUSIVE");
        assert_eq!(b("BEGIN DEFERRED".into()), "BEGIN DEFERRED");
        assert_eq!(b("SELECT 1".into()), "SELECT 1");
    }

    #[test]
    fn one_queue_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"").unwrap();
        let same = dir.path().join(".").join("a.db");
        let held = WriterQueue::for_file(&a).lock_blocking();
        assert!(WriterQueue::for_file(&same).0.try_lock().is_err());
        assert!(
            WriterQueue::for_file(&dir.path().join("b.db"))
                .0
                .try_lock()
                .is_ok()
        );
        drop(held);
        assert!(WriterQueue::for_file(&same).0.try_lock().is_ok());
    }
}
