//! Spin variables as the files declare them: names and templates (`template`), the manifest's
//! `[variables]` ([`VariableDecl`]) and the runtime config's `[[variables_provider]]`s
//! (`provider`). The host resolves them at start.

pub mod provider;
pub mod template;

use serde::Deserialize;

pub use provider::{Provider, RawProvider, Vault};
pub use template::{Template, validate_variable_name};

/// An application variable as the manifest declares it. `secret` and `description` are accepted
/// and need no handling: the host never logs variable values at all.
#[derive(Debug, Clone, Deserialize)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
}
