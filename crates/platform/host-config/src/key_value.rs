//! `[key_value_store.<label>]` in `runtime-config.toml`: which backend serves a label. A label
//! without a section gets the embedded store. Unknown types and keys are refused by name.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KvBackend {
    /// Embedded SQLite file; `None` = the shared `sqlite_key_value.db` under the state directory.
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// `url = "redis://…"`; keyward extension: optional `prefix` for the hash names, so several
    /// deployments can share one Redis.
    Redis {
        url: String,
        #[serde(default)]
        prefix: String,
    },
}

impl KvBackend {
    /// Paths are relative to the runtime-config file, as in Spin.
    pub fn relative_to(self, base: &Path) -> Self {
        match self {
            KvBackend::Spin { path } => KvBackend::Spin {
                path: path.map(|p| base.join(p)),
            },
            redis => redis,
        }
    }
}
