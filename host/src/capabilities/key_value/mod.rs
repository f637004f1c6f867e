//! Key-value stores: the guest interface (`host`), the backends (`store` dispatches to the
//! embedded SQLite table or to `redis`), and the opening of the backend the runtime
//! configuration names (`config`).

pub mod config;
pub mod host;
pub mod redis;
pub mod store;

pub use host::{KeyValueGrants, KeyValueState};
pub use store::KvStore;
