//! Application variables resolve in this order, as in Spin: the runtime-config
//! `[[variables_provider]]`s in the order written, then the `SPIN_VARIABLE_<NAME>` environment
//! variable, then the manifest default. Resolution happens once, at start.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use host_config::variables::{Provider, VariableDecl};

/// Reads what the remote providers (Vault) hold for the declared variables, before
/// [`Resolver::new`] resolves them. A provider that cannot be read stops the start, named,
/// never with its token.
pub async fn fetch_remote(
    providers: &mut [Provider],
    decls: &BTreeMap<String, VariableDecl>,
) -> Result<()> {
    for provider in providers {
        if let Provider::Vault(vault) = provider {
            super::vault::fetch(vault, decls.keys()).await?;
        }
    }
    Ok(())
}

/// What `provider` holds for variable `name`.
fn provided(provider: &Provider, name: &str) -> Option<String> {
    match provider {
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
                .find_map(|p| provided(p, name))
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
