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
    /// `type = "redis"`, `url = "redis://…"`; keyward extension: optional `prefix` for the hash
    /// names, so several deployments can share one Redis.
    Redis { url: String, prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlBackend {
    /// Embedded SQLite file; `None` = `<state dir>/<label>.db`.
    Spin { path: Option<PathBuf> },
    /// keyward extension: `type = "postgres"`, `url = "postgres://…"`, optional `pool_size`.
    Postgres { url: String, pool_size: usize },
}

/// Connections per PostgreSQL label when `pool_size` is not given.
pub const DEFAULT_PG_POOL_SIZE: usize = 16;

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
        let section = format!("key_value_store.{label}");
        let backend = match store.kind.as_str() {
            "spin" => {
                reject_extra(&store.rest, &section, &[])?;
                KvBackend::Spin {
                    path: store.path.map(|p| base.join(p)),
                }
            }
            "redis" => {
                reject_extra(&store.rest, &section, &["url", "prefix"])?;
                KvBackend::Redis {
                    url: string_field(&store.rest, &section, "url")?
                        .ok_or_else(|| anyhow::anyhow!("{section}: `url` is required"))?,
                    prefix: string_field(&store.rest, &section, "prefix")?.unwrap_or_default(),
                }
            }
            other => bail!(
                "{section}: type `{other}` is not supported yet (supported: \"spin\", \"redis\")"
            ),
        };
        config.key_value_stores.insert(label, backend);
    }
    for (label, db) in raw.sqlite_database {
        let section = format!("sqlite_database.{label}");
        let backend = match db.kind.as_str() {
            "spin" => {
                reject_extra(&db.rest, &section, &[])?;
                SqlBackend::Spin {
                    path: db.path.map(|p| base.join(p)),
                }
            }
            "postgres" => {
                reject_extra(&db.rest, &section, &["url", "pool_size"])?;
                let pool_size = match db.rest.get("pool_size") {
                    None => DEFAULT_PG_POOL_SIZE,
                    Some(v) => v
                        .as_integer()
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| {
                            anyhow::anyhow!("{section}: `pool_size` must be 1 to 1024")
                        })?,
                };
                SqlBackend::Postgres {
                    url: string_field(&db.rest, &section, "url")?
                        .ok_or_else(|| anyhow::anyhow!("{section}: `url` is required"))?,
                    pool_size,
                }
            }
            other => bail!(
                "{section}: type `{other}` is not supported yet (supported: \"spin\", \"postgres\")"
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

fn reject_extra(
    rest: &BTreeMap<String, toml::Value>,
    section: &str,
    allowed: &[&str],
) -> Result<()> {
    match rest.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => bail!("{section}: field `{key}` is not supported for this type"),
        None => Ok(()),
    }
}

fn string_field(
    rest: &BTreeMap<String, toml::Value>,
    section: &str,
    name: &str,
) -> Result<Option<String>> {
    match rest.get(name) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => bail!("{section}: `{name}` must be a string"),
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
    fn scale_out_backends() {
        let c = parse(
            "[key_value_store.k]\ntype = \"redis\"\nurl = \"redis://127.0.0.1\"\nprefix = \"p:\"\n\
             [sqlite_database.s]\ntype = \"postgres\"\nurl = \"postgres://u@h/db\"\npool_size = 4\n",
            Path::new("/rc"),
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["k"],
            KvBackend::Redis {
                url: "redis://127.0.0.1".into(),
                prefix: "p:".into()
            }
        );
        assert_eq!(
            c.sqlite_databases["s"],
            SqlBackend::Postgres {
                url: "postgres://u@h/db".into(),
                pool_size: 4
            }
        );
    }

    #[test]
    fn unsupported_types_are_clear_errors() {
        let err = |text: &str| format!("{:#}", parse(text, Path::new(".")).unwrap_err());
        assert!(
            err("[key_value_store.x]\ntype = \"azure_cosmos\"")
                .contains("type `azure_cosmos` is not supported yet")
        );
        assert!(err("[sqlite_database.x]\ntype = \"libsql\"").contains("not supported yet"));
        assert!(err("[key_value_store.x]\ntype = \"redis\"").contains("`url` is required"));
        assert!(
            err(
                "[sqlite_database.x]\ntype = \"postgres\"\nurl = \"postgres://h/d\"\npool_size = 0"
            )
            .contains("pool_size")
        );
        assert!(
            err("[sqlite_database.x]\ntype = \"postgres\"\nurl = \"postgres://h/d\"\nssl = true")
                .contains("`ssl` is not supported")
        );
        assert!(err("[llm_compute]\ntype = \"spin\"").contains("not supported"));
    }
}
