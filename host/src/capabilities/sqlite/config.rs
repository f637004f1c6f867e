//! `[sqlite_database.<label>]` in `runtime-config.toml`: the section is parsed by
//! `host_config::sqlite`; here the backend it names is opened. A label without a section gets its
//! own embedded file.

use std::path::Path;

use anyhow::Result;
use host_config::sqlite::SqlBackend;

use super::database::{Backend, SqlDatabase};
use super::postgres::PgDatabase;
use embedded_sqlite::EmbeddedFiles;

/// Opens the backend of `label` (`None`: no section, the embedded default).
pub fn open(
    backend: Option<&SqlBackend>,
    label: &str,
    state_dir: &Path,
    files: &mut EmbeddedFiles,
) -> Result<SqlDatabase> {
    Ok(match backend {
        Some(SqlBackend::Spin { path: Some(path) }) => {
            SqlDatabase::new(Backend::Sqlite(files.open(path.clone())?))
        }
        Some(SqlBackend::Spin { path: None }) | None => {
            let file = if label == "default" {
                "sqlite_db.db".to_string()
            } else {
                format!("{label}.db")
            };
            SqlDatabase::new(Backend::Sqlite(files.open(state_dir.join(file))?))
        }
        Some(SqlBackend::Postgres { url, pool_size }) => {
            SqlDatabase::new(Backend::Postgres(PgDatabase::new(label, url, *pool_size)?))
        }
    })
}
