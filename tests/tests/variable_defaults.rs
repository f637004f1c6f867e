//! Every variable default is declared once in Rust (each service's `config` module) and
//! repeated in `spin.toml`'s `[variables]`, where Spin reads it; the two must agree
//! (docs/configuration.md).

use keyward_e2e::repo_root;

#[test]
fn rust_defaults_match_spin_toml() {
    let manifest = std::fs::read_to_string(repo_root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Table = manifest.parse().expect("spin.toml is TOML");
    let variables = manifest["variables"].as_table().expect("[variables]");
    let declared = keyservice_service::VARIABLES
        .iter()
        .chain(shield_service::VARIABLES)
        .chain(guardian_service::config::VARIABLES);
    let mut mismatches = Vec::new();
    for variable in declared {
        let (name, default) = (variable.name(), variable.default_text());
        match variables.get(name).and_then(|v| v.get("default")) {
            Some(toml::Value::String(d)) if *d == default => {}
            Some(d) => mismatches.push(format!("{name}: Rust says {default}, spin.toml says {d}")),
            None => mismatches.push(format!("{name}: no default in spin.toml's [variables]")),
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
