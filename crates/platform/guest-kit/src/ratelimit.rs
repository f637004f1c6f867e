//! The one rate limiter: fixed windows counted per bucket (a client address, a project, a
//! user), over any counter store ([`Counters`]): the key-value store ([`KvCounters`]) or a
//! service's own SQL table. What happens when the store fails is the caller's choice
//! ([`OnStoreFailure`]): a brake in front of another check may fail open, a limit that is the
//! only protection fails closed.
//!
//! Spin's key-value interface has no atomic increment, so with [`KvCounters`] a burst of
//! concurrent requests may exceed a limit by the number in flight: an abuse brake, not an
//! exact quota.

use crate::kv::{self, Kv};

/// What [`FixedWindow::check`] does when the counter store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreFailure {
    /// Let the request through (fail open).
    Allow,
    /// Refuse it with [`Refusal::StoreFailed`] (fail closed).
    Refuse,
}

/// Why a request was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the limit: retry when the window ends.
    Limited { retry_after_secs: u64 },
    /// The counter store failed and the limiter fails closed.
    StoreFailed,
}

/// The counter store failed (its error text is not kept: backends may quote values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterError;

/// Where the counts live.
pub trait Counters {
    /// Counts one request of `bucket` in window number `window` (windows of `window_ms` since
    /// the epoch) and returns the count including it. A store may stop counting once past
    /// `limit`: the answer only has to exceed `limit` then.
    fn hit(
        &self,
        bucket: &str,
        window: i64,
        window_ms: i64,
        limit: u64,
    ) -> Result<u64, CounterError>;
}

/// A fixed-window limit: at most `limit` requests per bucket and window; 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindow {
    pub limit: u64,
    pub window_ms: i64,
    pub on_store_failure: OnStoreFailure,
}

impl FixedWindow {
    /// One-minute windows.
    pub const fn per_minute(limit: u64, on_store_failure: OnStoreFailure) -> Self {
        Self {
            limit,
            window_ms: 60_000,
            on_store_failure,
        }
    }

    /// Counts this request in `bucket`'s current window and says whether it may proceed.
    pub fn check(&self, counters: &dyn Counters, bucket: &str, now_ms: i64) -> Result<(), Refusal> {
        if self.limit == 0 {
            return Ok(());
        }
        let window_ms = self.window_ms.max(1);
        let window = now_ms.div_euclid(window_ms);
        match counters.hit(bucket, window, window_ms, self.limit) {
            Ok(count) if count > self.limit => Err(Refusal::Limited {
                retry_after_secs: retry_after(window_ms, now_ms),
            }),
            Ok(_) => Ok(()),
            Err(CounterError) => self.store_failed(),
        }
    }

    /// Whether `bucket` has already reached the limit in its current window, without counting
    /// anything: for limits that count only some outcomes (failures), asked before the attempt
    /// and counted with [`FixedWindow::check`] after it failed.
    pub fn reached(
        &self,
        counters: &KvCounters<'_>,
        bucket: &str,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        if self.limit == 0 {
            return Ok(());
        }
        let window_ms = self.window_ms.max(1);
        match counters.count(bucket, now_ms.div_euclid(window_ms)) {
            Ok(count) if count >= self.limit => Err(Refusal::Limited {
                retry_after_secs: retry_after(window_ms, now_ms),
            }),
            Ok(_) => Ok(()),
            Err(CounterError) => self.store_failed(),
        }
    }

    fn store_failed(&self) -> Result<(), Refusal> {
        match self.on_store_failure {
            OnStoreFailure::Allow => Ok(()),
            OnStoreFailure::Refuse => Err(Refusal::StoreFailed),
        }
    }
}

/// Whole seconds until the window of `now_ms` ends, at least 1.
fn retry_after(window_ms: i64, now_ms: i64) -> u64 {
    let remaining_ms = window_ms - now_ms.rem_euclid(window_ms);
    let secs = u64::try_from(remaining_ms.saturating_add(999) / 1000).unwrap_or(1);
    secs.max(1)
}

/// Counters in a key-value store, one key per bucket and window: `<prefix><window>:<bucket>`.
/// The window is in the key so that a sweep can tell a stale counter from its name alone: a
/// bucket's first request of a window removes every earlier window's counters of all buckets,
/// at most once per window ([`kv::sweep_once_per_window`], marker key `swept`).
pub struct KvCounters<'a> {
    pub kv: &'a dyn Kv,
    pub prefix: &'static str,
    /// Holds the last swept window; must not start with `prefix`.
    pub swept: &'static str,
}

impl KvCounters<'_> {
    fn key(&self, bucket: &str, window: i64) -> String {
        format!("{}{window}:{bucket}", self.prefix)
    }

    /// The count of `bucket` in window number `window`, unchanged.
    pub fn count(&self, bucket: &str, window: i64) -> Result<u64, CounterError> {
        Ok(self
            .kv
            .get(&self.key(bucket, window))
            .map_err(|_| CounterError)?
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0))
    }
}

impl Counters for KvCounters<'_> {
    fn hit(&self, bucket: &str, window: i64, _: i64, limit: u64) -> Result<u64, CounterError> {
        let key = self.key(bucket, window);
        let before = self.count(bucket, window)?;
        // Already over: no write, the answer is over the limit either way.
        if before >= limit {
            return Ok(before.saturating_add(1));
        }
        self.kv
            .set(&key, (before + 1).to_string().as_bytes())
            .map_err(|_| CounterError)?;
        if before == 0 {
            // Best effort: a failed sweep is retried next window and must not refuse this
            // request. Keys in an older layout (no window first) are stale too.
            let _ = kv::sweep_once_per_window(self.kv, self.swept, window, self.prefix, |rest| {
                rest.split_once(':')
                    .and_then(|(w, _)| w.parse::<i64>().ok())
                    .is_none_or(|w| w < window)
            });
        }
        Ok(before + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{KvError, MemoryKv};

    const MINUTE: i64 = 60_000;

    fn limit(limit: u64, on_store_failure: OnStoreFailure) -> FixedWindow {
        FixedWindow {
            limit,
            window_ms: MINUTE,
            on_store_failure,
        }
    }

    fn counters(store: &MemoryKv) -> KvCounters<'_> {
        KvCounters {
            kv: store,
            prefix: "rl:",
            swept: "rl-swept",
        }
    }

    #[test]
    fn counts_per_bucket_and_window_and_sweeps_old_windows() {
        let store = MemoryKv::new();
        let counters = counters(&store);
        let l = limit(2, OnStoreFailure::Refuse);
        let t0 = 10 * MINUTE + 1_500;
        assert_eq!(l.check(&counters, "a", t0), Ok(()));
        assert_eq!(l.check(&counters, "a", t0), Ok(()));
        assert_eq!(
            l.check(&counters, "a", t0),
            Err(Refusal::Limited {
                retry_after_secs: 59
            })
        );
        assert_eq!(l.check(&counters, "b", t0), Ok(()));
        // The next window: a fresh count, and the old window's keys are gone.
        assert_eq!(l.check(&counters, "c", t0 + MINUTE), Ok(()));
        let mut keys = store.get_keys().expect("keys");
        keys.sort();
        assert_eq!(keys, ["rl-swept", "rl:11:c"]);
        assert_eq!(
            limit(0, OnStoreFailure::Refuse).check(&counters, "c", t0),
            Ok(())
        );
    }

    #[test]
    fn reached_reads_without_counting() {
        let store = MemoryKv::new();
        let counters = counters(&store);
        let l = limit(2, OnStoreFailure::Refuse);
        let t0 = 10 * MINUTE;
        for _ in 0..5 {
            assert_eq!(l.reached(&counters, "a", t0), Ok(()));
        }
        assert_eq!(l.check(&counters, "a", t0), Ok(()));
        assert_eq!(l.reached(&counters, "a", t0), Ok(()));
        assert_eq!(l.check(&counters, "a", t0), Ok(()));
        assert_eq!(
            l.reached(&counters, "a", t0 + 30_000),
            Err(Refusal::Limited {
                retry_after_secs: 30
            })
        );
        assert_eq!(l.reached(&counters, "a", t0 + MINUTE), Ok(()));
        assert_eq!(
            KvCounters {
                kv: &Broken,
                prefix: "rl:",
                swept: "rl-swept",
            }
            .count("a", 0),
            Err(CounterError)
        );
    }

    struct Broken;
    impl Kv for Broken {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, KvError> {
            Err(KvError::AccessDenied)
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<(), KvError> {
            Err(KvError::AccessDenied)
        }
        fn delete(&self, _: &str) -> Result<(), KvError> {
            Err(KvError::AccessDenied)
        }
        fn exists(&self, _: &str) -> Result<bool, KvError> {
            Err(KvError::AccessDenied)
        }
        fn get_keys(&self) -> Result<Vec<String>, KvError> {
            Err(KvError::AccessDenied)
        }
    }

    #[test]
    fn store_failure_is_the_callers_choice() {
        let counters = KvCounters {
            kv: &Broken,
            prefix: "rl:",
            swept: "rl-swept",
        };
        assert_eq!(
            limit(1, OnStoreFailure::Allow).check(&counters, "a", 0),
            Ok(())
        );
        assert_eq!(
            limit(1, OnStoreFailure::Refuse).check(&counters, "a", 0),
            Err(Refusal::StoreFailed)
        );
    }
}
