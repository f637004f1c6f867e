//! `spin.toml` (manifest version 2): the subset keyward runs, parsed strictly enough that a
//! field which would change behaviour but is not supported stops the start with a clear message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::toml_file::first_set;
use crate::variables::{Template, VariableDecl, validate_variable_name};

/// The application as keyward will run it: every path is resolved, every route parsed.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    /// Application variables (`[variables]`).
    pub variables: BTreeMap<String, VariableDecl>,
    pub components: BTreeMap<String, ComponentSpec>,
    /// HTTP triggers in manifest order; private ones are kept out of routing.
    pub http_triggers: Vec<HttpTrigger>,
}

#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub id: String,
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, Template>,
    /// Raw `allowed_outbound_hosts` entries (may contain `{{ variable }}` templates).
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// `[component.<id>.tool.keyward] max_body_bytes`: this component's request-body maximum.
    pub max_body_bytes: Option<usize>,
}

/// keyward's own settings for a component, in the manifest's `tool` table, which Spin and other
/// hosts ignore (so `spin up` still accepts the manifest).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeywardTool {
    #[serde(default)]
    max_body_bytes: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// `None` for `route = { private = true }`.
    pub route: Option<String>,
    pub component: String,
}

// ---- raw TOML shapes -------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Value>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Value>,
    #[serde(default)]
    static_response: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    // Fields that would change behaviour and that keyward does not implement: rejected.
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    dependencies: Option<toml::Value>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    /// Tool-specific tables; keyward reads its own (`tool.keyward`) and ignores the rest.
    #[serde(default)]
    tool: BTreeMap<String, toml::Value>,
    // `description`, `build`, `exclude_files`, `dependencies_inherit_configuration` and
    // unknown fields are ignored: they do not change what runs.
}

/// Reads and validates a manifest; relative `source` paths resolve against its directory.
pub fn load(path: &Path) -> Result<App> {
    crate::toml_file::load(path, "manifest", parse)
}

pub fn parse(text: &str, base: &Path) -> Result<App> {
    let raw: RawManifest = toml::from_str(text)?;
    if raw.spin_manifest_version.as_integer() != Some(2)
        && raw.spin_manifest_version.as_str() != Some("2")
    {
        bail!("only `spin_manifest_version = 2` is supported");
    }
    if let Some(kind) = raw.application.trigger.keys().find(|k| *k != "http") {
        bail!("application trigger settings for `{kind}` are not supported (only http)");
    }
    for name in raw.variables.keys() {
        validate_variable_name(name).with_context(|| format!("variable `{name}`"))?;
    }
    for (name, decl) in &raw.variables {
        if decl.required && decl.default.is_some() {
            bail!("variable `{name}` cannot be both required and have a default");
        }
    }

    let mut components = BTreeMap::new();
    for (id, rc) in raw.component {
        components.insert(id.clone(), component(&id, rc, base, &raw.variables)?);
    }

    let mut http_triggers = Vec::new();
    for (kind, value) in raw.trigger {
        if kind != "http" {
            bail!("trigger type `{kind}` is not supported (only http)");
        }
        let list: Vec<RawHttpTrigger> = value.try_into().context(
            "`[[trigger.http]]` must be an array of tables with `route` and `component`",
        )?;
        for t in list {
            if t.executor.is_some() {
                bail!(
                    "`[[trigger.http]] executor` is not supported (only the default Spin executor)"
                );
            }
            if t.static_response.is_some() {
                bail!("`[[trigger.http]] static_response` is not supported");
            }
            let component = match t.component {
                toml::Value::String(s) => s,
                _ => bail!(
                    "inline components in `[[trigger.http]]` are not supported; use `[component.<id>]`"
                ),
            };
            if !components.contains_key(&component) {
                bail!("trigger refers to unknown component `{component}`");
            }
            let route = match t.route {
                RawRoute::Path(p) => {
                    crate::route::validate_route(&p)
                        .with_context(|| format!("route `{p}` of component `{component}`"))?;
                    Some(p)
                }
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => {
                    bail!("route `{{ private = false }}` is not valid; give a path")
                }
            };
            http_triggers.push(HttpTrigger { route, component });
        }
    }

    Ok(App {
        name: raw.application.name,
        variables: raw.variables,
        components,
        http_triggers,
    })
}

fn component(
    id: &str,
    rc: RawComponent,
    base: &Path,
    app_vars: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentSpec> {
    if let Some(field) = first_set(&[
        ("files", rc.files.is_some()),
        ("ai_models", rc.ai_models.is_some()),
        ("dependencies", rc.dependencies.is_some()),
        ("allowed_http_hosts", rc.allowed_http_hosts.is_some()),
    ]) {
        bail!("component `{id}`: field `{field}` is not supported by the keyward host");
    }
    let source = match rc.source {
        toml::Value::String(s) => base.join(s),
        _ => bail!(
            "component `{id}`: only a local file path is supported as `source` (no remote url/registry sources)"
        ),
    };
    let mut variables = BTreeMap::new();
    for (name, template) in rc.variables {
        validate_variable_name(&name)
            .with_context(|| format!("component `{id}` variable `{name}`"))?;
        let t = Template::parse(&template)
            .with_context(|| format!("component `{id}` variable `{name}`"))?;
        for referenced in t.references() {
            if !app_vars.contains_key(referenced) {
                bail!(
                    "component `{id}` variable `{name}` refers to undefined application variable `{referenced}`"
                );
            }
        }
        variables.insert(name, t);
    }
    for host in &rc.allowed_outbound_hosts {
        let t = Template::parse(host)
            .with_context(|| format!("component `{id}` allowed_outbound_hosts `{host}`"))?;
        for referenced in t.references() {
            if !app_vars.contains_key(referenced) {
                bail!(
                    "component `{id}` allowed_outbound_hosts refers to undefined application variable `{referenced}`"
                );
            }
        }
    }
    let keyward: KeywardTool = match rc.tool.get("keyward") {
        Some(table) => table
            .clone()
            .try_into()
            .with_context(|| format!("component `{id}`: `[component.{id}.tool.keyward]`"))?,
        None => KeywardTool::default(),
    };
    Ok(ComponentSpec {
        max_body_bytes: keyward.max_body_bytes,
        id: id.to_string(),
        source,
        key_value_stores: rc.key_value_stores,
        sqlite_databases: rc.sqlite_databases,
        variables,
        allowed_outbound_hosts: rc.allowed_outbound_hosts,
        environment: rc.environment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
token = { required = true, secret = true }
greeting = { default = "hi" }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "a"
[component.a]
source = "a.wasm"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["https://{{ greeting }}.example.com"]
[component.a.variables]
token = "{{ token }}"
[component.a.build]
command = "cargo build"
[component.a.tool.keyward]
max_body_bytes = 4096
[component.a.tool.other]
anything = true
"#;

    #[test]
    fn parses_a_v2_manifest() {
        let app = parse(GOOD, Path::new("/base")).unwrap();
        assert_eq!(app.name, "demo");
        assert_eq!(app.http_triggers.len(), 2);
        assert_eq!(app.http_triggers[0].route.as_deref(), Some("/a/..."));
        assert_eq!(app.http_triggers[1].route, None);
        assert_eq!(app.components["a"].source, Path::new("/base/a.wasm"));
        assert_eq!(app.components["a"].max_body_bytes, Some(4096));
    }

    #[test]
    fn keyward_tool_settings_are_checked() {
        let bad = GOOD.replace("max_body_bytes = 4096", "max_body_size = 4096");
        let err = format!("{:#}", parse(&bad, Path::new(".")).unwrap_err());
        assert!(err.contains("tool.keyward"), "{err}");
    }

    #[test]
    fn rejects_unsupported_fields() {
        let bad = GOOD.replace(
            "source = \"a.wasm\"",
            "source = \"a.wasm\"\nfiles = [\"x\"]",
        );
        let err = format!("{:#}", parse(&bad, Path::new(".")).unwrap_err());
        assert!(err.contains("`files` is not supported"), "{err}");
        let bad = GOOD.replace(
            "[[trigger.http]]\nroute = \"/a/...\"",
            "[[trigger.redis]]\nchannel = \"x\"\n[[trigger.http]]\nroute = \"/a/...\"",
        );
        let err = format!("{:#}", parse(&bad, Path::new(".")).unwrap_err());
        assert!(
            err.contains("trigger type `redis` is not supported"),
            "{err}"
        );
        let bad = GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(parse(&bad, Path::new(".")).is_err());
    }

    #[test]
    fn rejects_undefined_variable_references() {
        let bad = GOOD.replace("token = \"{{ token }}\"", "token = \"{{ nope }}\"");
        let err = format!("{:#}", parse(&bad, Path::new(".")).unwrap_err());
        assert!(
            err.contains("undefined application variable `nope`"),
            "{err}"
        );
    }
}
