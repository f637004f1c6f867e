//! Every variable default is declared once in Rust (each service's `config` module) and
//! repeated in `spin.toml`'s `[variables]`, where Spin reads it; the two must agree
//! (docs/configuration.md).

use guest_kit::config::default_mismatches;

#[test]
fn rust_defaults_match_spin_toml() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
    let mut mismatches = default_mismatches(&manifest, keyservice_service::VARIABLES);
    mismatches.extend(default_mismatches(&manifest, shield_service::VARIABLES));
    mismatches.extend(default_mismatches(
        &manifest,
        guardian_service::config::VARIABLES,
    ));
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
