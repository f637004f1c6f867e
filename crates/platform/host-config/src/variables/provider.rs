//! `[[variables_provider]]` in `runtime-config.toml`: where application variables come from.
//! Unknown keys and types are refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use zeroize::Zeroizing;

/// A source of application variable values configured in `runtime-config.toml`.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `type = "env"`: `<PREFIX>_<NAME>` from the process environment (and an optional dotenv file,
    /// read once at start).
    Env {
        prefix: String,
        dotenv: BTreeMap<String, String>,
    },
    /// `type = "static"`: literal `values = { name = "value" }`.
    Static { values: BTreeMap<String, String> },
    /// `type = "vault"`: HashiCorp Vault / OpenBao KV v2, read by the host at start.
    Vault(Box<Vault>),
}

/// A Vault provider's settings and, once the host fetched them, the values it holds.
pub struct Vault {
    pub url: String,
    pub token: Zeroizing<String>,
    pub mount: String,
    pub prefix: Option<String>,
    pub values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token, never a value.
        write!(f, "Vault({} mount {})", self.url, self.mount)
    }
}

impl Clone for Vault {
    fn clone(&self) -> Self {
        Vault {
            url: self.url.clone(),
            token: self.token.clone(),
            mount: self.mount.clone(),
            prefix: self.prefix.clone(),
            values: self.values.clone(),
        }
    }
}

impl Vault {
    /// How the provider is named in errors: where it is, never its token.
    pub fn name(&self) -> String {
        format!(
            "variables provider `vault` at {} (mount `{}`)",
            self.url.trim_end_matches('/'),
            self.mount
        )
    }

    /// Where variable `variable` is kept under the mount: `<prefix>/<variable>` or `<variable>`.
    pub fn path(&self, variable: &str) -> String {
        match self.prefix.as_deref().map(|p| p.trim_matches('/')) {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}/{variable}"),
            _ => variable.to_owned(),
        }
    }
}

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
                Provider::Vault(Box::new(Vault {
                    url,
                    token: Zeroizing::new(token),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let v = Vault {
            url: "https://vault.internal:8200".into(),
            token: Zeroizing::new("s.very-secret".into()),
            mount: "secret".into(),
            prefix: Some("keyward/".into()),
            values: BTreeMap::from([("master_key".into(), "k".into())]),
        };
        let shown = format!("{v:?} {}", v.name());
        assert!(!shown.contains("very-secret") && !shown.contains("master_key"));
        assert_eq!(v.path("master_key"), "keyward/master_key");
    }
}
