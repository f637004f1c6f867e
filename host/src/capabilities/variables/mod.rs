//! Spin variables: names and templates (`template`), resolution from providers (`resolver`,
//! configured in `config`; Vault's fetched at start by `vault`), and the guest interface
//! (`host`).

pub mod config;
pub mod host;
pub mod resolver;
pub mod template;
pub mod vault;

pub use host::{ComponentVariables, VariablesState};
pub use resolver::{Provider, Resolver, VariableDecl};
pub use template::{Template, validate_variable_name};
