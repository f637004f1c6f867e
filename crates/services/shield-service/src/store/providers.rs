//! A project's identity providers (at most one of each type).

use guest_kit::{Row, Value};

use super::{Store, opt_str, opt_text, text};
use crate::error::ApiResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub publishable_key: Option<String>,
    pub jwk_url: Option<String>,
    pub pem: Option<String>,
    pub key_type: Option<String>,
    pub cookie_field_name: Option<String>,
}

/// The provider's settings, as the columns `publishable_key, jwk_url, pem, key_type,
/// cookie_field_name` take them.
fn settings(p: &Provider) -> [Value; 5] {
    [
        opt_str(p.publishable_key.as_deref()),
        opt_str(p.jwk_url.as_deref()),
        opt_str(p.pem.as_deref()),
        opt_str(p.key_type.as_deref()),
        opt_str(p.cookie_field_name.as_deref()),
    ]
}

const PROVIDER_COLUMNS: &str =
    "id, project_id, type, publishable_key, jwk_url, pem, key_type, cookie_field_name";

impl Store<'_> {
    fn provider_from(row: &Row<'_>) -> ApiResult<Provider> {
        Ok(Provider {
            id: text(row, 0)?,
            project_id: text(row, 1)?,
            kind: text(row, 2)?,
            publishable_key: opt_text(row, 3)?,
            jwk_url: opt_text(row, 4)?,
            pem: opt_text(row, 5)?,
            key_type: opt_text(row, 6)?,
            cookie_field_name: opt_text(row, 7)?,
        })
    }

    fn providers_where(&self, clause: &str, params: &[Value]) -> ApiResult<Vec<Provider>> {
        let rows = self.run(
            &format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE {clause}"),
            params,
        )?;
        rows.iter().map(|r| Self::provider_from(&r)).collect()
    }

    pub fn providers(&self, project_id: &str) -> ApiResult<Vec<Provider>> {
        self.providers_where(
            "project_id = ? ORDER BY created_at, id",
            &[project_id.into()],
        )
    }

    pub fn provider_by_type(&self, project_id: &str, kind: &str) -> ApiResult<Option<Provider>> {
        Ok(self
            .providers_where(
                "project_id = ? AND type = ?",
                &[project_id.into(), kind.into()],
            )?
            .into_iter()
            .next())
    }

    pub fn provider(&self, project_id: &str, id: &str) -> ApiResult<Option<Provider>> {
        Ok(self
            .providers_where("project_id = ? AND id = ?", &[project_id.into(), id.into()])?
            .into_iter()
            .next())
    }

    /// `false` when the project already has a provider of that type.
    pub fn insert_provider(&self, p: &Provider, now_ms: i64) -> ApiResult<bool> {
        let rows = self.run(
            "INSERT INTO providers (id, project_id, type, publishable_key, jwk_url, pem, key_type, \
             cookie_field_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (project_id, type) DO NOTHING RETURNING id",
            &[
                [
                    p.id.as_str().into(),
                    p.project_id.as_str().into(),
                    p.kind.as_str().into(),
                ]
                .as_slice(),
                &settings(p),
                &[now_ms.into(), now_ms.into()],
            ]
            .concat(),
        )?;
        Ok(!rows.is_empty())
    }

    pub fn update_provider(&self, p: &Provider, now_ms: i64) -> ApiResult<()> {
        self.run(
            "UPDATE providers SET publishable_key = ?, jwk_url = ?, pem = ?, key_type = ?, \
             cookie_field_name = ?, updated_at = ? WHERE id = ? AND project_id = ?",
            &[
                settings(p).as_slice(),
                &[
                    now_ms.into(),
                    p.id.as_str().into(),
                    p.project_id.as_str().into(),
                ],
            ]
            .concat(),
        )?;
        Ok(())
    }

    pub fn delete_provider(&self, project_id: &str, id: &str) -> ApiResult<()> {
        self.run(
            "DELETE FROM external_users WHERE provider_id = ? AND project_id = ?",
            &[id.into(), project_id.into()],
        )?;
        self.run(
            "DELETE FROM providers WHERE id = ? AND project_id = ?",
            &[id.into(), project_id.into()],
        )?;
        Ok(())
    }
}
