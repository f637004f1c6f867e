//! Projects: the API key, the digest of the API secret and the 2FA flag.

use super::{Store, text};
use crate::error::ApiResult;

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub api_secret_sha256: String,
    pub enable_2fa: bool,
}

impl Store<'_> {
    pub fn insert_project(
        &self,
        id: &str,
        name: &str,
        api_key: &str,
        secret_sha256: &str,
        now_ms: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO projects (id, name, api_key, api_secret_sha256, enable_2fa, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 0, ?, ?)",
            &[id.into(), name.into(), api_key.into(), secret_sha256.into(), now_ms.into(), now_ms.into()],
        )?;
        Ok(())
    }

    pub fn project_by_api_key(&self, api_key: &str) -> ApiResult<Option<Project>> {
        self.first(
            "SELECT id, name, api_secret_sha256, enable_2fa FROM projects WHERE api_key = ?",
            &[api_key.into()],
            |row| {
                Ok(Project {
                    id: text(row, 0)?,
                    name: text(row, 1)?,
                    api_secret_sha256: text(row, 2)?,
                    enable_2fa: row.integer(3).unwrap_or(0) != 0,
                })
            },
        )
    }

    /// Replaces an imported secret's stored value by its fast digest once it has been checked
    /// (docs/shield.md, "Design: import from upstream Shield"); only if it still holds `old`.
    pub fn upgrade_api_secret(&self, project_id: &str, old: &str, new: &str) -> ApiResult<()> {
        self.run(
            "UPDATE projects SET api_secret_sha256 = ? WHERE id = ? AND api_secret_sha256 = ?",
            &[new.into(), project_id.into(), old.into()],
        )?;
        Ok(())
    }
}
