//! Users, their keychains and their links to external (provider) user ids.

use super::{Store, text};
use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};

impl Store<'_> {
    pub fn user_for_external(
        &self,
        provider_id: &str,
        external_id: &str,
    ) -> ApiResult<Option<String>> {
        self.first(
            "SELECT user_id FROM external_users WHERE provider_id = ? AND external_user_id = ?",
            &[provider_id.into(), external_id.into()],
            |r| text(r, 0),
        )
    }

    /// Get-or-create the internal user (with its keychain) for (provider, external id).
    pub fn get_or_create_user(
        &self,
        project_id: &str,
        provider_id: &str,
        external_id: &str,
        now_ms: i64,
    ) -> ApiResult<String> {
        if let Some(id) = self.user_for_external(provider_id, external_id)? {
            return Ok(id);
        }
        let user_id = crate::util::uuid_v4()?;
        let keychain_id = crate::util::uuid_v4()?;
        let link_id = crate::util::uuid_v4()?;
        let created = self.tx(project_id, now_ms, || {
            self.run(
                "INSERT INTO users (id, project_id, created_at) VALUES (?, ?, ?)",
                &[user_id.as_str().into(), project_id.into(), now_ms.into()],
            )?;
            self.run(
                "INSERT INTO keychains (id, user_id, created_at) VALUES (?, ?, ?)",
                &[keychain_id.as_str().into(), user_id.as_str().into(), now_ms.into()],
            )?;
            let rows = self.run(
                "INSERT INTO external_users (id, user_id, project_id, provider_id, external_user_id, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider_id, external_user_id) DO NOTHING RETURNING user_id",
                &[
                    link_id.as_str().into(),
                    user_id.as_str().into(),
                    project_id.into(),
                    provider_id.into(),
                    external_id.into(),
                    now_ms.into(),
                ],
            )?;
            if rows.is_empty() {
                // Lost a race: undo our user, use the winner's.
                return Err(ApiError::new(409, "RACE", ""));
            }
            Ok(())
        });
        match created {
            Ok(()) => Ok(user_id),
            Err(e) if e.code == "RACE" => self
                .user_for_external(provider_id, external_id)?
                .ok_or_else(|| ApiError::internal("user link vanished")),
            Err(e) => Err(e),
        }
    }

    pub fn user_in_project(&self, project_id: &str, user_id: &str) -> ApiResult<bool> {
        Ok(!self
            .run(
                "SELECT 1 FROM users WHERE id = ? AND project_id = ?",
                &[user_id.into(), project_id.into()],
            )?
            .is_empty())
    }

    pub fn keychain_of(&self, user_id: &str) -> ApiResult<Option<String>> {
        self.first(
            "SELECT id FROM keychains WHERE user_id = ?",
            &[user_id.into()],
            |r| text(r, 0),
        )
    }

    /// The external ids linked to an internal user.
    pub fn linked_user_ids(&self, project_id: &str, external_id: &str) -> ApiResult<Vec<String>> {
        let rows = self.run(
            "SELECT DISTINCT user_id FROM external_users WHERE project_id = ? AND external_user_id = ?",
            &[project_id.into(), external_id.into()],
        )?;
        rows.iter().map(|r| text(&r, 0)).collect()
    }
}
