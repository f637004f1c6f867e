//! Spin variables: resolution from the providers the runtime config names (`resolver`; Vault's
//! fetched at start by `vault`), and the guest interface (`host`). Names, templates and the
//! providers' settings are the configuration's (`host_config::variables`).

pub mod host;
pub mod resolver;
pub mod vault;

pub use host::{ComponentVariables, VariablesState};
pub use resolver::Resolver;
