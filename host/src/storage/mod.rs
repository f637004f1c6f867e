//! Storage backends behind the Spin `key-value` and `sqlite` interfaces.
//!
//! Each label is bound at start to one backend, chosen in `runtime-config.toml`; the interface
//! implementations in `crate::spin_interfaces` only see the enums below.

pub mod kv;
pub mod sql;
pub mod sqlite_pool;
