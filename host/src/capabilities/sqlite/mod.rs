//! SQLite databases: the guest interface (`host`), a guest's connection over either backend
//! (`database`: embedded SQLite run verbatim, or `postgres` with translation), the schema probes
//! the host answers itself (`known_tables`), their value types
//! (`values`) and the opening of the backend the runtime configuration names (`config`).

pub mod config;
pub mod database;
pub mod host;
pub mod known_tables;
pub mod postgres;
pub mod values;

pub use database::{Backend, SqlConn, SqlDatabase};
pub use host::{SqliteGrants, SqliteState};
