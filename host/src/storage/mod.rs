//! Storage backends behind the Spin `key-value` and `sqlite` interfaces.
//!
//! Each label is bound at start to one backend, chosen in `runtime-config.toml`; the interface
//! implementations in `crate::spin_interfaces` only see the enums in `kv` and `sql`.
//!
//! A backend that cannot be reached (connection refused, pool timeout, connection lost) is not
//! the guest's error to handle: the host stops the instance and answers the request itself with
//! 503, and the backend's pool reconnects on its own when the server is back.

pub mod kv;
pub mod postgres;
pub mod redis_kv;
pub mod sql;
pub mod sqlite_pool;

/// A backend could not be reached for this request.
#[derive(Debug)]
pub struct BackendUnavailable {
    label: String,
    detail: String,
}

impl BackendUnavailable {
    pub fn new(label: &str, detail: String) -> Self {
        BackendUnavailable {
            label: label.to_string(),
            detail,
        }
    }
}

impl std::fmt::Display for BackendUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "storage backend for `{}` is unavailable: {}",
            self.label, self.detail
        )
    }
}

impl std::error::Error for BackendUnavailable {}
