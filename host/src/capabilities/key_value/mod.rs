//! Key-value stores: the guest interface (`host`), the backends (`store` dispatches to the
//! embedded SQLite table or to `redis`), and their runtime configuration (`config`).

pub mod config;
pub mod host;
pub mod redis;
pub mod store;

pub use config::KvBackend;
pub use host::{KeyValueGrants, KeyValueState};
pub use store::KvStore;
