//! `[sqlite_database.<label>]` in `runtime-config.toml`: which backend serves a database label.
//! A label without a section gets its own embedded file. Unknown types and keys are refused by
//! name.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;

/// Connections per PostgreSQL label when `pool_size` is not given.
pub const DEFAULT_PG_POOL_SIZE: usize = 16;

fn default_pool_size() -> usize {
    DEFAULT_PG_POOL_SIZE
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SqlBackend {
    /// Embedded SQLite file; `None` = `<state dir>/<label>.db` (`sqlite_db.db` for `default`).
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// keyward extension: `url = "postgres://…"`, optional `pool_size` (1 to 1024).
    Postgres {
        url: String,
        #[serde(default = "default_pool_size")]
        pool_size: usize,
    },
}

impl SqlBackend {
    /// Paths are relative to the runtime-config file, as in Spin; `pool_size` is checked.
    pub fn checked(self, base: &Path, label: &str) -> Result<Self> {
        Ok(match self {
            SqlBackend::Spin { path } => SqlBackend::Spin {
                path: path.map(|p| base.join(p)),
            },
            SqlBackend::Postgres { pool_size, .. } if !(1..=1024).contains(&pool_size) => {
                bail!("sqlite_database.{label}: `pool_size` must be 1 to 1024")
            }
            pg => pg,
        })
    }
}
