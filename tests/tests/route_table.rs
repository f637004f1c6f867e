//! Each service declares its components as `spin.toml` does: every component's `[[trigger.http]]`
//! routes and its route group (docs/platform.md, "Design: route tables"). The native bench routes
//! by those tables, so they must be `spin.toml`'s routes exactly, both ways.

use std::collections::BTreeSet;

/// `(route, component)` of every `[[trigger.http]]` in the manifest.
fn manifest_routes(manifest: &str) -> BTreeSet<(String, String)> {
    let quoted = |line: &str, key: &str| -> Option<String> {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    };
    let mut out = BTreeSet::new();
    for block in manifest.split("[[trigger.http]]").skip(1) {
        // A trigger's keys end at the next table header.
        let body = block.split("\n[").next().unwrap_or_default();
        let route = body.lines().find_map(|l| quoted(l, "route"));
        let component = body.lines().find_map(|l| quoted(l, "component"));
        let (Some(route), Some(component)) = (route, component) else {
            panic!("a [[trigger.http]] without route or component: {body}");
        };
        out.insert((route, component));
    }
    out
}

#[test]
fn components_tables_equal_spin_toml() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
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
