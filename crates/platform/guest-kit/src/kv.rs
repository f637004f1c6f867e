//! Key-value access (short-lived data: rate-limit counters and the like).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("no such store")]
    NoSuchStore,
    #[error("access denied")]
    AccessDenied,
    #[error("store table full")]
    StoreTableFull,
    #[error("key-value error: {0}")]
    Other(String),
}

/// Spin key-value semantics: `get` of a missing key is `Ok(None)`, deleting a
/// missing key is ok.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn exists(&self, key: &str) -> Result<bool, KvError>;
    /// Every key in the store (Spin's `get-keys`: no prefix filter, no paging), so callers use
    /// it rarely: [`sweep_once_per_window`] does, at most once per window.
    fn get_keys(&self) -> Result<Vec<String>, KvError>;
}

/// Deletes every key under `prefix` for which `expired` (given the rest of the key after the
/// prefix) says yes; returns how many went. Keys must encode what decides their expiry (a
/// window number, a deadline), so no value is read. A failed delete does not stop the sweep;
/// the first error is returned after every key was tried.
pub fn sweep(kv: &dyn Kv, prefix: &str, expired: impl Fn(&str) -> bool) -> Result<usize, KvError> {
    let mut deleted = 0;
    let mut first_error = None;
    for key in kv.get_keys()? {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        if !expired(rest) {
            continue;
        }
        match kv.delete(&key) {
            Ok(()) => deleted += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(deleted),
    }
}

/// [`sweep`], at most once per `window` across all instances (approximately: two instances
/// may both sweep at a window's start, which is harmless). `marker` holds the last swept
/// window; it must not start with `prefix`, or the sweep would judge it too. Returns how many
/// keys went (0 when this window was already swept).
///
/// Why a marker: listing keys costs a pass over the whole store, and fixed-window limiters
/// want their stale counters gone once per window, not once per request.
pub fn sweep_once_per_window(
    kv: &dyn Kv,
    marker: &str,
    window: i64,
    prefix: &str,
    expired: impl Fn(&str) -> bool,
) -> Result<usize, KvError> {
    let last = kv
        .get(marker)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok());
    if last.is_some_and(|w| w >= window) {
        return Ok(0);
    }
    // Marked first: a sweep that fails half-way is retried next window, not on every request.
    kv.set(marker, window.to_string().as_bytes())?;
    sweep(kv, prefix, expired)
}

/// An in-memory store for native tests.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>>, KvError> {
        self.map
            .lock()
            .map_err(|_| KvError::Other("store lock poisoned".into()))
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock()?.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.lock()?.remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.lock()?.contains_key(key))
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        Ok(self.lock()?.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_kv_semantics() {
        let kv = MemoryKv::new();
        assert_eq!(kv.get("a"), Ok(None));
        kv.delete("a").expect("delete of missing key is ok");
        kv.set("a", b"1").expect("set");
        assert_eq!(kv.get("a"), Ok(Some(b"1".to_vec())));
        assert_eq!(kv.exists("a"), Ok(true));
        kv.delete("a").expect("delete");
        assert_eq!(kv.exists("a"), Ok(false));
        kv.set("b", b"1").expect("set");
        assert_eq!(kv.get_keys(), Ok(vec!["b".to_owned()]));
    }

    fn keys(kv: &MemoryKv) -> Vec<String> {
        let mut k = kv.get_keys().expect("keys");
        k.sort();
        k
    }

    #[test]
    fn sweep_deletes_only_expired_keys_under_the_prefix() {
        let kv = MemoryKv::new();
        for k in ["rl:1:a", "rl:2:b", "rl:3:c", "other:1:a", "rl:junk"] {
            kv.set(k, b"1").expect("set");
        }
        let expired = |rest: &str| {
            rest.split_once(':')
                .and_then(|(w, _)| w.parse::<i64>().ok())
                .is_none_or(|w| w < 3)
        };
        assert_eq!(sweep(&kv, "rl:", expired), Ok(3));
        assert_eq!(keys(&kv), ["other:1:a", "rl:3:c"]);
    }

    #[test]
    fn sweep_once_per_window_uses_the_marker() {
        let kv = MemoryKv::new();
        kv.set("rl:1", b"1").expect("set");
        let older_than = |w: i64| move |rest: &str| rest.parse::<i64>().is_ok_and(|k| k < w);
        assert_eq!(
            sweep_once_per_window(&kv, "rl-swept", 2, "rl:", older_than(2)),
            Ok(1)
        );
        kv.set("rl:1", b"1").expect("set");
        // Same window: already swept, the stale key stays until the next window.
        assert_eq!(
            sweep_once_per_window(&kv, "rl-swept", 2, "rl:", older_than(2)),
            Ok(0)
        );
        assert_eq!(
            sweep_once_per_window(&kv, "rl-swept", 3, "rl:", older_than(3)),
            Ok(1)
        );
        assert_eq!(keys(&kv), ["rl-swept"]);
        assert_eq!(kv.get("rl-swept"), Ok(Some(b"3".to_vec())));
    }
}
