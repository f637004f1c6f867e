//! Each service declares its components as `spin.toml` does: every component's `[[trigger.http]]`
//! routes and its route group (docs/platform.md, "Design: route tables"). The native bench and
//! the test kit's native driver route by those tables, so they must be `spin.toml`'s routes
//! exactly, both ways.

use std::collections::BTreeSet;

use keyward_e2e::repo_root;

/// `(route, component)` of every `[[trigger.http]]` in the manifest.
fn manifest_routes(manifest: &str) -> BTreeSet<(String, String)> {
    let manifest: toml::Table = manifest.parse().expect("spin.toml is TOML");
    let triggers = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]] tables");
    triggers
        .iter()
        .map(|t| {
            let text = |key: &str| {
                t.get(key)
                    .and_then(toml::Value::as_str)
                    .unwrap_or_else(|| {
                        panic!("a [[trigger.http]] whose {key} is not a string: {t}")
                    })
                    .to_owned()
            };
            (text("route"), text("component"))
        })
        .collect()
}

#[test]
fn components_tables_equal_spin_toml() {
    let manifest = std::fs::read_to_string(repo_root().join("spin.toml")).expect("spin.toml");
    let declared = manifest_routes(&manifest);
    let tables: BTreeSet<(String, String)> = keyservice_service::COMPONENTS
        .iter()
        .chain(shield_service::COMPONENTS)
        .chain(guardian_service::COMPONENTS)
        .flat_map(|c| c.routes.iter().map(|r| ((*r).to_owned(), c.id.to_owned())))
        .collect();
    let missing: Vec<_> = declared.difference(&tables).collect();
    let extra: Vec<_> = tables.difference(&declared).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "in spin.toml only: {missing:#?}\nin the services' tables only: {extra:#?}"
    );
}
