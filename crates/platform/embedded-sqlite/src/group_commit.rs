//! Group commit: writers to one file share one fsync (docs/platform.md, "Design: group commit").
//!
//! At `synchronous=FULL` every SQLite commit syncs the WAL, and a sync costs far more than the
//! statements of a keyward request. So the writers of one file work inside one *batch*
//! transaction on one *batch connection*, each in a savepoint of its own:
//!
//! - a writer takes the file's write lock ([`WriterQueue`], first come first served), opens the
//!   batch if none is open (`BEGIN IMMEDIATE`) and its savepoint, and runs its statements;
//! - its `COMMIT` releases the savepoint and the write lock, then waits for its batch to be
//!   durable ([`SqlitePool::durable`]). The first waiter to get the write lock back commits the
//!   batch (one sync) for every writer in it; the others find their batch durable and return.
//!   Writers that queued while the batch was being written joined it, so a batch is as large as
//!   the queue of writers, and a lone writer commits at once (no timer);
//! - a writer's `ROLLBACK`, failure or disappearance rolls back to its savepoint: its own work
//!   only;
//! - writers hold the write lock from their first write to their end, one after the other, so a
//!   transaction sees what the writers before it in the batch did and nothing of later ones:
//!   the serial order SQLite's single writer gives today. Readers outside a transaction use other
//!   connections and see only committed (durable) batches.
//!
//! A commit that fails (a full disk, an I/O error), or a statement that makes SQLite abandon the
//! whole transaction, fails every writer of that batch: none of them was told it was durable.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, anyhow};
use rusqlite::Connection;

use crate::pool::SqlitePool;
use crate::{BUSY_TIMEOUT, IMMEDIATE_BEGIN, WriterGuard};

/// The savepoint each writer works in; guests' own savepoints nest inside it.
const MEMBER_BEGIN: &str = "SAVEPOINT keyward_batch_member";
const MEMBER_KEEP: &str = "RELEASE keyward_batch_member";
const MEMBER_UNDO: [&str; 2] = ["ROLLBACK TO keyward_batch_member", MEMBER_KEEP];

/// Runs one of the fixed statements above through the connection's statement cache: every
/// write runs two of them, and parsing them anew each time showed in the profile.
fn run_fixed(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// How one batch ended, set once when it settles: `None` committed, `Some((full, why))` failed
/// (`full`: for want of disk space). Every writer of the batch holds it, so each learns its own
/// batch's end however many batches settle meanwhile.
type Outcome = Arc<OnceLock<Option<(bool, String)>>>;

/// The end of the batch behind `outcome`, once it has settled.
fn ended(outcome: &Outcome) -> Option<Result<()>> {
    outcome.get().map(|end| match end {
        None => Ok(()),
        Some((true, why)) => {
            Err(anyhow::Error::new(crate::DiskFull).context(format!("the commit failed: {why}")))
        }
        Some((false, why)) => Err(anyhow!("the commit failed: {why}")),
    })
}

/// The batch connection and what is known about its batches.
#[derive(Debug)]
pub(crate) struct BatchState {
    /// The batch connection, out while a writer or a commit uses it.
    conn: Option<Connection>,
    /// A batch transaction is open on `conn`.
    open: bool,
    /// The batch that writers join now.
    generation: u64,
    /// Every batch up to this one has ended (committed, or failed).
    settled: u64,
    /// Writers that kept their work in the open batch: each comes back for its commit. While
    /// none has, the batch holds nothing worth a sync, and a rollback ends it.
    kept: usize,
    /// How the batch that writers join now will end.
    outcome: Outcome,
}

impl Default for BatchState {
    fn default() -> Self {
        BatchState {
            conn: None,
            open: false,
            // Batches count from 1: `settled` 0 is "none yet".
            generation: 1,
            settled: 0,
            kept: 0,
            outcome: Outcome::default(),
        }
    }
}

impl BatchState {
    /// Ends the open batch: `result` is its outcome; the next writer opens a new one.
    fn settle(&mut self, result: &Result<()>) {
        let end = result
            .as_ref()
            .err()
            .map(|e| (crate::is_full(e), format!("{e:#}")));
        let _ = self.outcome.set(end);
        self.outcome = Outcome::default();
        self.settled = self.generation;
        self.generation += 1;
        self.open = false;
        self.kept = 0;
    }
}

/// One writer's turn on the batch connection: the file's write lock and the connection, inside
/// the writer's savepoint. End it with [`finish`](Self::finish); dropped unfinished, its work is
/// rolled back.
#[derive(Debug)]
pub struct Writing {
    pool: Arc<SqlitePool>,
    conn: Option<Connection>,
    generation: u64,
    outcome: Outcome,
    guard: Option<WriterGuard>,
    /// One of this writer's statements failed for want of disk space.
    saw_full: bool,
}

/// A finished writer's claim on its batch: [`SqlitePool::durable`] waits for it.
#[derive(Debug)]
#[must_use = "a write is acknowledged only once its batch is durable"]
pub struct Pending {
    outcome: Outcome,
    /// Without group commit, the write lock stays held until this writer's own commit.
    guard: Option<WriterGuard>,
}

impl Writing {
    /// The batch connection, inside this writer's savepoint.
    pub fn conn(&self) -> Result<&Connection> {
        self.conn.as_ref().context("the batch connection is gone")
    }

    /// Notes that one of this writer's statements failed for want of disk space: if SQLite then
    /// abandons the whole batch, the batch failed for that reason (docs/OPERATIONS.md,
    /// "Storage full"), and all of its writers are told so.
    pub fn mark_full(&mut self) {
        self.saw_full = true;
    }

    /// Ends this writer's savepoint: kept (`keep`) or rolled back. A kept write is acknowledged
    /// only after [`SqlitePool::durable`] of the returned claim.
    pub fn finish(mut self, keep: bool) -> Result<Pending> {
        let ended = self.end(keep);
        let outcome = self.outcome.clone();
        let group_commit = self.pool.group_commit();
        // Without group commit nobody may join this batch: the lock goes with the claim.
        let guard = if group_commit {
            self.guard.take();
            None
        } else {
            self.guard.take()
        };
        ended.map(|()| Pending { outcome, guard })
    }

    fn end(&mut self, keep: bool) -> Result<()> {
        let Some(conn) = self.conn.take() else {
            return Err(anyhow!("the batch connection is gone"));
        };
        let result = if conn.is_autocommit() {
            // SQLite abandoned the whole batch (a full disk, an I/O error): nobody in it may
            // be told it is durable.
            let rolled_back = anyhow!("the transaction was rolled back by the database");
            Err(if self.saw_full {
                rolled_back.context(crate::DiskFull)
            } else {
                rolled_back
            })
        } else {
            if keep {
                run_fixed(&conn, MEMBER_KEEP)
            } else {
                MEMBER_UNDO.iter().try_for_each(|sql| run_fixed(&conn, sql))
            }
            .context("cannot end the write")
        };
        let mut state = self.pool.batch_state();
        let ours = state.open && state.generation == self.generation;
        if result.is_err() && ours {
            // The batch is in no state to be committed: it fails as a whole.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            state.settle(&result);
        } else if keep {
            state.kept += 1;
        } else if ours && state.kept == 0 {
            // Nobody will come back to commit this batch, and an open one holds the file's write
            // lock against other processes and checkpoints: end it (nothing to sync).
            let ended = conn
                .execute_batch("ROLLBACK")
                .context("cannot end the batch");
            state.settle(&ended);
        }
        state.conn = Some(conn);
        result
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if self.conn.is_some() {
            // A writer that went away mid-transaction: its own work is undone, the batch stays.
            let _ = self.end(false);
        }
    }
}

impl SqlitePool {
    /// Starts a write: waits for the file's write lock, joins (or opens) the batch and begins
    /// this writer's savepoint.
    pub async fn begin_write(self: &Arc<Self>) -> Result<Writing> {
        let guard = self.writer().await;
        let (conn, open, generation, outcome) = {
            let mut state = self.batch_state();
            let conn = state.conn.take();
            if conn.is_none() && state.open {
                // The connection was lost with a batch open (a task cancelled mid-statement):
                // that batch is gone.
                state.settle(&Err(anyhow!("the batch connection was lost")));
            }
            (conn, state.open, state.generation, state.outcome.clone())
        };
        let conn = match conn {
            Some(c) => c,
            None => self.connect()?,
        };
        let mut writing = Writing {
            pool: self.clone(),
            conn: None,
            generation,
            outcome,
            guard: Some(guard),
            saw_full: false,
        };
        let conn = if open {
            conn
        } else {
            let conn = open_batch(conn).await?;
            self.batch_state().open = true;
            conn
        };
        let begun = run_fixed(&conn, MEMBER_BEGIN);
        writing.conn = Some(conn);
        begun.context("cannot begin the write")?;
        Ok(writing)
    }

    /// Waits until the batch of `pending` is durable (committing it, when this writer is the
    /// first to come back for it).
    pub async fn durable(self: &Arc<Self>, pending: Pending) -> Result<()> {
        let Pending { outcome, guard } = pending;
        if let Some(end) = ended(&outcome) {
            return end;
        }
        let pool = self.clone();
        // On a task of its own: a caller that gives up waiting (its request timed out) must not
        // leave its batch open and uncommitted, holding the file's write lock.
        tokio::spawn(async move {
            let guard = match guard {
                Some(g) => g,
                None => pool.writer().await,
            };
            if let Some(end) = ended(&outcome) {
                return end;
            }
            // The commit syncs: on the blocking pool.
            tokio::task::spawn_blocking(move || pool.commit_batch(guard, &outcome))
                .await
                .context("storage task failed")?
        })
        .await
        .context("storage task failed")?
    }

    /// Commits the open batch before something that must not run inside it (a checkpoint):
    /// returns the file's write lock with no batch open.
    pub async fn exclusive(self: &Arc<Self>) -> Result<WriterGuard> {
        let guard = self.writer().await;
        let (open, outcome) = {
            let state = self.batch_state();
            (state.open, state.outcome.clone())
        };
        if !open {
            return Ok(guard);
        }
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            pool.commit_batch_keeping(&guard, &outcome).map(|()| guard)
        })
        .await
        .context("storage task failed")?
    }

    fn commit_batch(&self, guard: WriterGuard, outcome: &Outcome) -> Result<()> {
        let result = self.commit_batch_keeping(&guard, outcome);
        drop(guard);
        result
    }

    /// Commits the batch whose end `outcome` tells, if it has not ended yet; its outcome either
    /// way.
    fn commit_batch_keeping(&self, _lock: &WriterGuard, outcome: &Outcome) -> Result<()> {
        let conn = {
            let mut state = self.batch_state();
            if let Some(end) = ended(outcome) {
                return end;
            }
            // Not ended, so it is the current batch: only `settle` moves to the next.
            if !state.open {
                // Opened and ended with nothing kept: nothing to sync.
                state.settle(&Ok(()));
                return Ok(());
            }
            state.conn.take()
        };
        let result = match &conn {
            Some(c) => run_fixed(c, "COMMIT").context("cannot commit"),
            None => Err(anyhow!("the batch connection was lost")),
        };
        if let (Err(_), Some(c)) = (&result, &conn)
            && !c.is_autocommit()
        {
            let _ = c.execute_batch("ROLLBACK");
        }
        let mut state = self.batch_state();
        state.settle(&result);
        state.conn = conn;
        result
    }
}

/// `BEGIN IMMEDIATE` on the batch connection: at once when no other process holds the file
/// (the usual case: this process's writers already queue on the write lock), else on the
/// blocking pool, waiting up to [`BUSY_TIMEOUT`] like any writer.
async fn open_batch(conn: Connection) -> Result<Connection> {
    conn.busy_timeout(std::time::Duration::ZERO)?;
    let at_once = run_fixed(&conn, IMMEDIATE_BEGIN);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if at_once.is_ok() {
        return Ok(conn);
    }
    tokio::task::spawn_blocking(move || {
        conn.execute_batch(IMMEDIATE_BEGIN)
            .context("cannot begin a transaction")
            .map(|()| conn)
    })
    .await
    .context("storage task failed")?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Synchronous;

    /// A pool on a fresh file with table `t` (kept alive by the returned directory).
    fn fixture(group_commit: bool) -> (tempfile::TempDir, Arc<SqlitePool>) {
        let dir = tempfile::tempdir().unwrap();
        let pool =
            SqlitePool::open(&dir.path().join("t.db"), Synchronous::Full, 4, group_commit).unwrap();
        let c = pool.checkout().unwrap();
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            .unwrap();
        pool.checkin(c);
        (dir, pool)
    }

    /// A first writer that inserts ("a", 1) and keeps it, not yet durable.
    async fn writer_a(pool: &Arc<SqlitePool>) -> Pending {
        let a = pool.begin_write().await.unwrap();
        insert(&a, "a", 1);
        a.finish(true).unwrap()
    }

    /// What a fresh connection (another reader) sees.
    fn committed(pool: &SqlitePool) -> Vec<(String, i64)> {
        let c = crate::open(&pool.path_for_tests(), Synchronous::Full).unwrap();
        let mut st = c.prepare("SELECT k, n FROM t ORDER BY k").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn insert(w: &Writing, k: &str, n: i64) {
        w.conn()
            .unwrap()
            .execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![k, n])
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_that_finish_together_share_one_commit() {
        let (_dir, pool) = fixture(true);
        let pa = writer_a(&pool).await;
        let b = pool.begin_write().await.unwrap();
        insert(&b, "b", 2);
        // B sees A's work (the writers before it), readers elsewhere see nothing yet.
        let n: i64 = b
            .conn()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let pb = b.finish(true).unwrap();
        assert!(
            committed(&pool).is_empty(),
            "nothing durable before a commit"
        );
        // A's wait commits both; B's finds its batch durable.
        pool.durable(pa).await.unwrap();
        assert_eq!(committed(&pool).len(), 2);
        let settled = pool.batch_state().settled;
        pool.durable(pb).await.unwrap();
        assert_eq!(pool.batch_state().settled, settled, "one commit for both");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rollback_or_a_writer_gone_undoes_only_its_own_work() {
        let (_dir, pool) = fixture(true);
        let pa = writer_a(&pool).await;
        let b = pool.begin_write().await.unwrap();
        insert(&b, "b", 2);
        let _ = b.finish(false).unwrap();
        let c = pool.begin_write().await.unwrap();
        insert(&c, "c", 3);
        drop(c);
        let d = pool.begin_write().await.unwrap();
        // Nested savepoints of a writer's own, as guests use them.
        let conn = d.conn().unwrap();
        conn.execute_batch("SAVEPOINT step; INSERT INTO t VALUES ('d', 4); RELEASE step")
            .unwrap();
        conn.execute_batch(
            "SAVEPOINT step; INSERT INTO t VALUES ('e', 5); ROLLBACK TO step; RELEASE step",
        )
        .unwrap();
        let pd = d.finish(true).unwrap();
        pool.durable(pa).await.unwrap();
        pool.durable(pd).await.unwrap();
        assert_eq!(
            committed(&pool),
            vec![("a".to_string(), 1), ("d".to_string(), 4)]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_refused_because_of_an_earlier_writer_answers_once_that_writer_is_durable() {
        let (_dir, pool) = fixture(true);
        let _pa = writer_a(&pool).await;
        // B's insert meets A's row, which no other connection sees yet.
        let out = pool
            .write_once(|c| c.execute("INSERT INTO t VALUES ('a', 2)", []))
            .await
            .unwrap();
        assert!(out.is_err(), "a duplicate key");
        assert_eq!(
            committed(&pool),
            vec![("a".to_string(), 1)],
            "the refusal came before the row it met was durable"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_read_modify_writes_are_serial() {
        let (_dir, pool) = fixture(true);
        pool.run_write(|c| Ok(c.execute("INSERT INTO t VALUES ('n', 0)", [])?))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let w = pool.begin_write().await.unwrap();
                    let n: i64 = w
                        .conn()
                        .unwrap()
                        .query_row("SELECT n FROM t WHERE k = 'n'", [], |r| r.get(0))
                        .unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    w.conn()
                        .unwrap()
                        .execute("UPDATE t SET n = ?1 WHERE k = 'n'", [n + 1])
                        .unwrap();
                    let p = w.finish(true).unwrap();
                    pool.durable(p).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(committed(&pool), vec![("n".to_string(), 16)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_the_database_abandons_fails_every_writer_in_it() {
        let (_dir, pool) = fixture(true);
        let pa = writer_a(&pool).await;
        let b = pool.begin_write().await.unwrap();
        // What SQLite does on a full disk or an I/O error: the whole transaction is gone.
        b.conn().unwrap().execute_batch("ROLLBACK").unwrap();
        assert!(b.finish(true).is_err());
        assert!(pool.durable(pa).await.is_err(), "A was never durable");
        // The next writer starts a new batch.
        pool.run_write(|c| Ok(c.execute("INSERT INTO t VALUES ('c', 3)", [])?))
            .await
            .unwrap();
        assert_eq!(committed(&pool), vec![("c".to_string(), 3)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_group_commit_each_writer_commits_its_own() {
        let (_dir, pool) = fixture(false);
        let pa = writer_a(&pool).await;
        // The lock stays with A's claim: no one joins its batch.
        assert!(pool.writer.clone_for_tests().try_lock().is_err());
        pool.durable(pa).await.unwrap();
        assert_eq!(committed(&pool).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_nobody_kept_anything_in_ends_at_once() {
        let (_dir, pool) = fixture(true);
        let a = pool.begin_write().await.unwrap();
        insert(&a, "a", 1);
        let _ = a.finish(false).unwrap();
        // Another process can write: no batch holds the file.
        let other = crate::open(&pool.path_for_tests(), Synchronous::Full).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        other
            .execute("INSERT INTO t VALUES ('other', 2)", [])
            .unwrap();
        assert_eq!(committed(&pool), vec![("other".to_string(), 2)]);
    }
}
