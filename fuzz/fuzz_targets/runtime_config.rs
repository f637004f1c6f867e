//! `runtime-config.toml` as an operator (or a deployment tool) writes it: any text, and any bytes
//! read as text, parse to a configuration or to an error. A configuration that parses holds what
//! the file's tables hold: one backend per section, one provider per `[[variables_provider]]`.
#![no_main]

use std::path::Path;

use host_config::runtime_config;
use host_config::sqlite::SqlBackend;
use libfuzzer_sys::fuzz_target;

/// Where relative paths resolve; nothing is read from it.
const BASE: &str = "/keyward-fuzz/config";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let table = toml::from_str::<toml::Table>(&text).ok();
    // A `dotenv_path` is read from disk when the file is parsed: left out, so that no input
    // makes the target read a device or a large file.
    if table.as_ref().is_some_and(names_a_dotenv_file) {
        return;
    }
    let Ok(config) = runtime_config::parse(&text, Path::new(BASE)) else {
        return;
    };
    let table = table.expect("a runtime config parses only from a TOML table");
    let count = |section: &str| -> usize {
        match table.get(section) {
            Some(toml::Value::Table(t)) => t.len(),
            Some(toml::Value::Array(a)) => a.len(),
            _ => 0,
        }
    };
    assert_eq!(config.key_value_stores.len(), count("key_value_store"));
    assert_eq!(config.sqlite_databases.len(), count("sqlite_database"));
    let providers = match count("variables_provider") {
        0 => count("config_provider"),
        n => n,
    };
    assert_eq!(config.variable_providers.len(), providers);
    for backend in config.sqlite_databases.values() {
        if let SqlBackend::Postgres { pool_size, .. } = backend {
            assert!((1..=1024).contains(pool_size), "pool_size {pool_size}");
        }
    }
});

/// Whether any table, at any depth, has a `dotenv_path` key.
fn names_a_dotenv_file(table: &toml::Table) -> bool {
    fn within(value: &toml::Value) -> bool {
        match value {
            toml::Value::Table(t) => names_a_dotenv_file(t),
            toml::Value::Array(a) => a.iter().any(within),
            _ => false,
        }
    }
    table.contains_key("dotenv_path") || table.values().any(within)
}
