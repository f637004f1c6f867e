//! The keyward host's configuration files as data: `spin.toml` ([`manifest`]) and
//! `runtime-config.toml` ([`runtime_config`]), with the parts each is made of: Spin's route
//! syntax ([`route`]), variable names, templates and providers ([`variables`]), and the
//! key-value and SQLite backends a label can name ([`key_value`], [`sqlite`]).
//!
//! A crate of its own so that these parsers are fuzzed without linking the runtime that serves
//! what they describe (docs/RELIABILITY.md, "Fuzzing the parsers"): the host opens the backends,
//! fetches Vault's values and routes requests; this crate only reads the files.

pub mod key_value;
pub mod manifest;
pub mod route;
pub mod runtime_config;
pub mod sqlite;
pub mod toml_file;
pub mod variables;
