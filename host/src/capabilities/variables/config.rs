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
    /// HashiCorp Vault / OpenBao KV v2, with Spin's settings.
    Vault {
        url: String,
        token: String,
        mount: String,
        #[serde(default)]
        prefix: Option<String>,
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
            RawProvider::Vault {
                url,
                token,
                mount,
                prefix,
            } => {
                let parsed = url.parse::<http::Uri>().ok();
                if !parsed.as_ref().is_some_and(|u| {
                    matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
                }) {
                    anyhow::bail!(
                        "variables provider `vault`: `url` must be an http(s) URL, like https://vault.internal:8200"
                    );
                }
                Provider::Vault(Box::new(super::vault::Vault {
                    url,
                    token: zeroize::Zeroizing::new(token),
                    mount,
                    prefix,
                    values: BTreeMap::new(),
                }))
            }
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
