//! `runtime-config.toml` in Spin's format. Each section belongs to a capability, whose module
//! parses its own part: `[key_value_store.<label>]` (`key_value`), `[sqlite_database.<label>]`
//! (`sqlite`) and `[[variables_provider]]` (`variables::provider`). Unknown sections, types and
//! keys are refused by name; Spin sections keyward does not implement are refused with that said.
//!
//! Relative paths resolve against the directory of the runtime-config file, as in Spin.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::key_value::KvBackend;
use crate::sqlite::SqlBackend;
use crate::toml_file::first_set;
use crate::variables::{Provider, RawProvider};

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvBackend>,
    pub sqlite_databases: BTreeMap<String, SqlBackend>,
    pub variable_providers: Vec<Provider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, KvBackend>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, SqlBackend>,
    #[serde(default)]
    variables_provider: Vec<RawProvider>,
    /// Spin's older name for `[[variables_provider]]`, which Spin still reads when the new one
    /// is absent (its Vault example uses it).
    #[serde(default)]
    config_provider: Vec<RawProvider>,
    // Spin sections that keyward does not implement: named in a clear refusal.
    #[serde(default)]
    llm_compute: Option<toml::Value>,
    #[serde(default)]
    client_tls: Option<toml::Value>,
    #[serde(default)]
    outbound_networking: Option<toml::Value>,
}

pub fn load(path: &Path) -> Result<RuntimeConfig> {
    crate::toml_file::load(path, "runtime config", parse)
}

pub fn parse(text: &str, base: &Path) -> Result<RuntimeConfig> {
    let raw: Raw = toml::from_str(text)?;
    if let Some(section) = first_set(&[
        ("[llm_compute]", raw.llm_compute.is_some()),
        ("[client_tls]", raw.client_tls.is_some()),
        ("[outbound_networking]", raw.outbound_networking.is_some()),
    ]) {
        bail!("{section} is not supported by the keyward host");
    }
    let mut sqlite_databases = BTreeMap::new();
    for (label, backend) in raw.sqlite_database {
        let checked = backend.checked(base, &label)?;
        sqlite_databases.insert(label, checked);
    }
    Ok(RuntimeConfig {
        key_value_stores: raw
            .key_value_store
            .into_iter()
            .map(|(label, backend)| (label, backend.relative_to(base)))
            .collect(),
        sqlite_databases,
        variable_providers: if raw.variables_provider.is_empty() {
            raw.config_provider
        } else {
            raw.variables_provider
        }
        .into_iter()
        .map(|p| p.resolve(base))
        .collect::<Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
        for (text, expected) in [
            (
                "[key_value_store.x]\ntype = \"azure_cosmos\"",
                "unknown variant `azure_cosmos`, expected `spin` or `redis`",
            ),
            (
                "[sqlite_database.x]\ntype = \"libsql\"",
                "unknown variant `libsql`, expected `spin` or `postgres`",
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"",
                "missing field `url`",
            ),
            (
                "[sqlite_database.x]\ntype = \"postgres\"\nurl = \"postgres://h/d\"\npool_size = 0",
                "pool_size",
            ),
            (
                "[sqlite_database.x]\ntype = \"postgres\"\nurl = \"postgres://h/d\"\nssl = true",
                "unknown field `ssl`",
            ),
            ("[llm_compute]\ntype = \"spin\"", "not supported"),
            (
                "[key_value_stor.x]\ntype = \"spin\"",
                "unknown field `key_value_stor`",
            ),
            (
                "[[variables_provider]]\ntype = \"env\"\nprefx = \"A\"",
                "unknown field `prefx`",
            ),
        ] {
            let message = err(text);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }
}
