//! `[[variables_provider]]` in `runtime-config.toml`: where application variables come from.
//! Unknown keys and types are refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::resolver::Provider;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawProvider {
    /// `<PREFIX>_<NAME>` from the environment (default prefix `SPIN_VARIABLE`), and an optional
    /// dotenv file relative to the runtime-config file.
    Env {
        #[serde(default)]
        prefix: Option<String>,
        #[serde(default)]
        dotenv_path: Option<PathBuf>,
    },
    /// Literal values.
    Static {
        #[serde(default)]
        values: BTreeMap<String, String>,
    },
}

impl RawProvider {
    pub fn resolve(self, base: &Path) -> Result<Provider> {
        Ok(match self {
            RawProvider::Env {
                prefix,
                dotenv_path,
            } => Provider::Env {
                prefix: prefix.unwrap_or_else(|| "SPIN_VARIABLE".into()),
                dotenv: match dotenv_path {
                    Some(path) => read_dotenv(&base.join(path))?,
                    None => BTreeMap::new(),
                },
            },
            RawProvider::Static { values } => Provider::Static { values },
        })
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
