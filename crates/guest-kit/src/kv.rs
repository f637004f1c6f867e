//! Key-value access (short-lived data: rate-limit counters and the like).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    StoreTableFull,
    Other(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NoSuchStore => f.write_str("no such store"),
            KvError::AccessDenied => f.write_str("access denied"),
            KvError::StoreTableFull => f.write_str("store table full"),
            KvError::Other(msg) => write!(f, "key-value error: {msg}"),
        }
    }
}

impl std::error::Error for KvError {}

/// Spin key-value semantics: `get` of a missing key is `Ok(None)`, deleting a
/// missing key is ok.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn exists(&self, key: &str) -> Result<bool, KvError>;
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
    }
}
