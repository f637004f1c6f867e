//! `runtime-config.toml` in Spin's format: which backend serves each key-value store and SQLite
//! database label, and where application variables come from.
//!
//! Relative paths resolve against the directory of the runtime-config file, as in Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::variables::Provider;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvBackend {
    /// Embedded SQLite file; `None` = the shared default file under the state directory.
    Spin { path: Option<PathBuf> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlBackend {
    /// Embedded SQLite file; `None` = `<state dir>/<label>.db`.
    Spin { path: Option<PathBuf> },
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvBackend>,
    pub sqlite_databases: BTreeMap<String, SqlBackend>,
    pub variable_providers: Vec<Provider>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawStore>,
    #[serde(default)]
    variables_provider: Vec<RawProvider>,
    #[serde(default)]
    config_provider: Option<toml::Value>,
    #[serde(default)]
    llm_compute: Option<toml::Value>,
    #[serde(default)]
    client_tls: Option<toml::Value>,
    #[serde(default)]
    outbound_networking: Option<toml::Value>,
}

#[derive(Deserialize)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(flatten)]
    rest: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    dotenv_path: Option<PathBuf>,
    #[serde(default)]
    values: BTreeMap<String, String>,
}

pub fn load(path: &Path) -> Result<RuntimeConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read runtime config {}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, base).with_context(|| format!("invalid runtime config {}", path.display()))
}

pub fn parse(text: &str, base: &Path) -> Result<RuntimeConfig> {
    let raw: Raw = toml::from_str(text)?;
    let unsupported = [
        ("[[config_provider]]", raw.config_provider.is_some()),
        ("[llm_compute]", raw.llm_compute.is_some()),
        ("[client_tls]", raw.client_tls.is_some()),
        ("[outbound_networking]", raw.outbound_networking.is_some()),
    ];
    if let Some((section, _)) = unsupported.iter().find(|(_, present)| *present) {
        bail!("{section} is not supported by the keyward host");
    }

    let mut config = RuntimeConfig::default();
    for (label, store) in raw.key_value_store {
        let backend = match store.kind.as_str() {
            "spin" => {
                reject_extra(&store.rest, &format!("key_value_store.{label}"))?;
                KvBackend::Spin {
                    path: store.path.map(|p| base.join(p)),
                }
            }
            other => bail!(
                "key_value_store.{label}: type `{other}` is not supported yet (supported: \"spin\")"
            ),
        };
        config.key_value_stores.insert(label, backend);
    }
    for (label, db) in raw.sqlite_database {
        let backend = match db.kind.as_str() {
            "spin" => {
                reject_extra(&db.rest, &format!("sqlite_database.{label}"))?;
                SqlBackend::Spin {
                    path: db.path.map(|p| base.join(p)),
                }
            }
            other => bail!(
                "sqlite_database.{label}: type `{other}` is not supported yet (supported: \"spin\")"
            ),
        };
        config.sqlite_databases.insert(label, backend);
    }
    for p in raw.variables_provider {
        let provider = match p.kind.as_str() {
            "env" => {
                let dotenv = match p.dotenv_path {
                    Some(path) => read_dotenv(&base.join(path))?,
                    None => BTreeMap::new(),
                };
                Provider::Env {
                    prefix: p.prefix.unwrap_or_else(|| "SPIN_VARIABLE".into()),
                    dotenv,
                }
            }
            "static" => Provider::Static { values: p.values },
            other => bail!(
                "variables_provider type `{other}` is not supported (supported: \"env\", \"static\")"
            ),
        };
        config.variable_providers.push(provider);
    }
    Ok(config)
}

fn reject_extra(rest: &BTreeMap<String, toml::Value>, section: &str) -> Result<()> {
    match rest.keys().next() {
        Some(key) => bail!("{section}: field `{key}` is not supported for type \"spin\""),
        None => Ok(()),
    }
}

/// Minimal dotenv reader: `KEY=value` lines, `#` comments, optional surrounding quotes.
fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read dotenv file {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_backends_and_providers() {
        let c = parse(
            r#"
[key_value_store.default]
type = "spin"
path = "kv.db"
[sqlite_database.shield]
type = "spin"
[[variables_provider]]
type = "static"
values = { a = "1" }
[[variables_provider]]
type = "env"
prefix = "KW"
"#,
            Path::new("/rc"),
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["default"],
            KvBackend::Spin {
                path: Some(PathBuf::from("/rc/kv.db"))
            }
        );
        assert_eq!(
            c.sqlite_databases["shield"],
            SqlBackend::Spin { path: None }
        );
        assert_eq!(c.variable_providers.len(), 2);
    }

    #[test]
    fn unsupported_types_are_clear_errors() {
        let e = parse(
            "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://h\"",
            Path::new("."),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("type `redis` is not supported yet"));
        let e = parse("[sqlite_database.x]\ntype = \"libsql\"", Path::new(".")).unwrap_err();
        assert!(format!("{e:#}").contains("not supported yet"));
        assert!(parse("[llm_compute]\ntype = \"spin\"", Path::new(".")).is_err());
    }
}
