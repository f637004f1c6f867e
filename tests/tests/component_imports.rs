//! Least privilege, checked on the built artefacts: every component in `spin.toml` imports
//! only the Spin capabilities its manifest entry grants it (SQLite databases, key-value
//! stores, variables, outbound HTTP). A component that is not granted a capability must not
//! even import the interface, so a host that links it lazily cannot be talked into serving
//! it. Needs `cargo xtask build-wasm` first, as every e2e test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The imports a grant allows, by `spin.toml` key.
const GRANTED_BY: &[(&str, &str)] = &[
    ("sqlite_databases", "fermyon:spin/sqlite"),
    ("key_value_stores", "fermyon:spin/key-value"),
    ("variables", "fermyon:spin/variables"),
    ("allowed_outbound_hosts", "wasi:http/outgoing-handler"),
];

#[derive(Debug, Default)]
struct Component {
    name: String,
    source: String,
    granted: BTreeSet<&'static str>,
}

fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The components of `spin.toml` with their grants: a grant is a non-empty list under one of
/// the [`GRANTED_BY`] keys, or a non-empty `[component.<name>.variables]` table.
fn manifest_components(manifest: &str) -> Vec<Component> {
    let manifest: toml::Table = manifest.parse().expect("spin.toml is TOML");
    let components = manifest.get("component").and_then(toml::Value::as_table);
    let mut out = Vec::new();
    for (name, spec) in components.into_iter().flatten() {
        let non_empty = |key: &str| match spec.get(key) {
            Some(toml::Value::Array(items)) => !items.is_empty(),
            Some(toml::Value::Table(items)) => !items.is_empty(),
            _ => false,
        };
        let granted = GRANTED_BY
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| non_empty(key));
        out.push(Component {
            name: name.clone(),
            source: spec
                .get("source")
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            granted: granted.collect(),
        });
    }
    out
}

/// The top-level component's imports, without `@version`.
fn imports(wasm: &[u8]) -> BTreeSet<String> {
    let mut depth = 0usize;
    let mut names = BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("valid component") {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let name = import.expect("import").name.0;
                    let bare = name.split_once('@').map_or(name, |(n, _)| n);
                    names.insert(bare.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

#[test]
fn every_component_imports_only_what_spin_toml_grants_it() {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
    let components = manifest_components(&manifest);
    assert!(
        components.len() >= 12,
        "components in spin.toml: {components:?}"
    );
    let mut failures = Vec::new();
    for c in &components {
        let path = root.join(&c.source);
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} (run `cargo xtask build-wasm`): {e}", path.display()));
        let imported = imports(&wasm);
        for (grant, interface) in GRANTED_BY {
            let has = imported.contains(*interface);
            if has && !c.granted.contains(grant) {
                failures.push(format!("{} imports {interface} without {grant}", c.name));
            }
        }
        // Every product component reads its database: an empty list means the parse is wrong.
        assert!(
            imported.contains("fermyon:spin/sqlite") || !c.granted.contains("sqlite_databases"),
            "{}: imports {imported:?}",
            c.name
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_manifest_reader_sees_the_grants() {
    let manifest = "[component.a]\nsource = \"a.wasm\"\nsqlite_databases = [\"x\"]\n\
                    allowed_outbound_hosts = []\n[component.a.variables]\nk = \"v\"\n\
                    [component.b]\nsource = \"b.wasm\"\nkey_value_stores = [\"x\"]\n";
    let c = manifest_components(manifest);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].source, "a.wasm");
    assert_eq!(
        c[0].granted.iter().copied().collect::<Vec<_>>(),
        ["sqlite_databases", "variables"]
    );
    assert_eq!(
        c[1].granted.iter().copied().collect::<Vec<_>>(),
        ["key_value_stores"]
    );
}

/// A component links only its own routes' code (docs/platform.md, "Design: route tables"):
/// each service's OpenAPI document is referenced by one route of one component, so it is in
/// that component's `.wasm` and in none of the service's other components. A route table
/// shared by every component of a service would link every route into each of them.
#[test]
fn a_component_links_only_its_own_routes() {
    let services: [(&str, &[&str], &str); 3] = [
        (
            "keyservice_init",
            &["keyservice_connect", "keyservice_key", "keyservice_admin"],
            keyservice_service::OPENAPI_JSON,
        ),
        (
            "guardian_login",
            &["guardian_sign", "guardian_admin", "guardian_export"],
            guardian_service::OPENAPI_JSON,
        ),
        // shield's project, shares and admin components match one table (upstream Shield's
        // 404-after-405); only health stands apart.
        (
            "shield_project",
            &["shield_health"],
            shield_service::OPENAPI_JSON,
        ),
    ];
    let read = |name: &str| {
        let path = keyward_e2e::wasm(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let holds = |wasm: &[u8], doc: &str| wasm.windows(doc.len()).any(|w| w == doc.as_bytes());
    for (serving, others, doc) in services {
        assert!(
            holds(&read(serving), doc),
            "{serving} lacks its OpenAPI document"
        );
        for other in others {
            assert!(
                !holds(&read(other), doc),
                "{other} links {serving}'s routes (its OpenAPI document is in it)"
            );
        }
    }
}
