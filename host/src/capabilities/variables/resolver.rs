//! Application variables resolve in this order, as in Spin: the runtime-config
//! `[[variables_provider]]`s in the order written, then the `SPIN_VARIABLE_<NAME>` environment
//! variable, then the manifest default. Resolution happens once, at start.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

/// An application variable as the manifest declares it. `secret` and `description` are accepted
/// and need no handling: the host never logs variable values at all.
#[derive(Debug, Clone, Deserialize)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
}

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
    /// `type = "vault"`: HashiCorp Vault / OpenBao KV v2, read at start by [`fetch_remote`].
    Vault(Box<super::vault::Vault>),
}

/// Reads what the remote providers (Vault) hold for the declared variables, before
/// [`Resolver::new`] resolves them. A provider that cannot be read stops the start, named,
/// never with its token.
pub async fn fetch_remote(
    providers: &mut [Provider],
    decls: &BTreeMap<String, VariableDecl>,
) -> Result<()> {
    for provider in providers {
        if let Provider::Vault(vault) = provider {
            vault.fetch(decls.keys()).await?;
        }
    }
    Ok(())
}

impl Provider {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Provider::Env { prefix, dotenv } => {
                let key = env_key(prefix, name);
                std::env::var(&key)
                    .ok()
                    .or_else(|| dotenv.get(&key).cloned())
            }
            Provider::Static { values } => values.get(name).cloned(),
            Provider::Vault(vault) => vault.values.get(name).cloned(),
        }
    }
}

fn env_key(prefix: &str, name: &str) -> String {
    format!("{}_{}", prefix, name.to_ascii_uppercase())
}

/// Resolves application variables; immutable after start so every request sees the same values.
#[derive(Debug, Clone)]
pub struct Resolver {
    values: BTreeMap<String, String>,
}

impl Resolver {
    /// Resolves every declared application variable once, failing the start if a required
    /// variable has no value anywhere (as `spin up` does).
    pub fn new(decls: &BTreeMap<String, VariableDecl>, providers: &[Provider]) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, decl) in decls {
            let found = providers
                .iter()
                .find_map(|p| p.get(name))
                .or_else(|| std::env::var(env_key("SPIN_VARIABLE", name)).ok())
                .or_else(|| decl.default.clone());
            match found {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => bail!(
                    "required variable `{name}` has no value: set SPIN_VARIABLE_{} or configure a variables provider",
                    name.to_ascii_uppercase()
                ),
                None => {}
            }
        }
        Ok(Resolver { values })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}
