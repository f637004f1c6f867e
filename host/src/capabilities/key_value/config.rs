//! `[key_value_store.<label>]` in `runtime-config.toml`: the section is parsed by
//! `host_config::key_value`; here the backend it names is opened. A label without a section gets
//! the embedded store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use host_config::key_value::KvBackend;

use super::redis::RedisKv;
use super::store::{EmbeddedKv, KvStore};
use embedded_sqlite::EmbeddedFiles;

/// Opens the backend of `label` (`None`: no section, the embedded default).
pub fn open(
    backend: Option<&KvBackend>,
    label: &str,
    state_dir: &Path,
    files: &mut EmbeddedFiles,
) -> Result<KvStore> {
    let embedded = |path: PathBuf, files: &mut EmbeddedFiles| -> Result<KvStore> {
        Ok(KvStore::Sqlite(Arc::new(EmbeddedKv::new(
            files.open(path)?,
            label,
        )?)))
    };
    match backend {
        Some(KvBackend::Spin { path: Some(path) }) => embedded(path.clone(), files),
        Some(KvBackend::Spin { path: None }) | None => {
            embedded(state_dir.join("sqlite_key_value.db"), files)
        }
        Some(KvBackend::Redis { url, prefix }) => {
            Ok(KvStore::Redis(Arc::new(RedisKv::new(label, url, prefix)?)))
        }
    }
}
