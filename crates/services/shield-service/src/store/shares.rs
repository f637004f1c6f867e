//! Shares, sealed at rest; the `data` column holds the sealed share.

use guest_kit::{Row, Value};
use zeroize::Zeroizing;

use super::{Store, opt_int, opt_str, opt_text, text};
use crate::error::ApiResult;

#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub id: String,
    pub user_id: String,
    pub keychain_id: String,
    pub reference: String,
    pub entropy: String,
    /// Unsealed: plaintext for none/user/passkey, AES-GCM under K for project.
    pub data: Zeroizing<String>,
    pub salt: Option<String>,
    pub iterations: Option<i64>,
    pub length: Option<i64>,
    pub digest: Option<String>,
    pub storage_method_id: i64,
    pub passkey_id: Option<String>,
    pub passkey_env: Option<String>,
}

/// A share to insert: where it belongs and what it holds.
pub(crate) struct NewShare<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub keychain_id: &'a str,
    pub reference: &'a str,
    pub storage_method_id: i64,
    pub content: ShareContent<'a>,
}

/// What a share holds, the part an update writes over: the entropy, the unsealed data and the
/// parameters that go with them.
pub(crate) struct ShareContent<'a> {
    pub entropy: &'a str,
    pub data: &'a str,
    pub salt: Option<&'a str>,
    pub iterations: Option<i64>,
    pub length: Option<i64>,
    pub digest: Option<&'a str>,
    pub passkey_id: Option<&'a str>,
    pub passkey_env: Option<&'a str>,
}

const SHARE_COLUMNS: &str = "id, user_id, keychain_id, reference, entropy, data, salt, iterations, \
     length, digest, storage_method_id, passkey_id, passkey_env";

impl Store<'_> {
    fn share_from(&self, row: &Row<'_>) -> ApiResult<Share> {
        let id = text(row, 0)?;
        let data = self.open("shares", &id, &text(row, 5)?)?;
        Ok(Share {
            user_id: text(row, 1)?,
            keychain_id: text(row, 2)?,
            reference: text(row, 3)?,
            entropy: text(row, 4)?,
            data,
            salt: opt_text(row, 6)?,
            iterations: opt_int(row, 7)?,
            length: opt_int(row, 8)?,
            digest: opt_text(row, 9)?,
            storage_method_id: opt_int(row, 10)?.unwrap_or(0),
            passkey_id: opt_text(row, 11)?,
            passkey_env: opt_text(row, 12)?,
            id,
        })
    }

    fn shares_where(&self, clause: &str, params: &[Value]) -> ApiResult<Vec<Share>> {
        let rows = self.run(
            &format!("SELECT {SHARE_COLUMNS} FROM shares WHERE {clause}"),
            params,
        )?;
        rows.iter().map(|r| self.share_from(&r)).collect()
    }

    pub fn user_share(&self, user_id: &str, reference: &str) -> ApiResult<Option<Share>> {
        Ok(self
            .shares_where(
                "user_id = ? AND reference = ?",
                &[user_id.into(), reference.into()],
            )?
            .into_iter()
            .next())
    }

    /// The project's share with a non-default reference, owned by one of `users`.
    pub fn project_share(&self, project_id: &str, reference: &str) -> ApiResult<Option<Share>> {
        Ok(self
            .shares_where(
                "project_id = ? AND reference = ? ORDER BY created_at, id",
                &[project_id.into(), reference.into()],
            )?
            .into_iter()
            .next())
    }

    pub fn user_shares(&self, user_id: &str) -> ApiResult<Vec<Share>> {
        self.shares_where("user_id = ? ORDER BY created_at, id", &[user_id.into()])
    }

    pub fn project_shares_with_entropy(
        &self,
        project_id: &str,
        entropy: &str,
    ) -> ApiResult<Vec<Share>> {
        self.shares_where(
            "project_id = ? AND entropy = ? ORDER BY created_at, id",
            &[project_id.into(), entropy.into()],
        )
    }

    /// Whether `reference` is taken: by the user, or (non-default) by anyone in the project.
    pub fn reference_taken(
        &self,
        project_id: &str,
        user_id: &str,
        reference: &str,
    ) -> ApiResult<bool> {
        let rows = if reference == shield_core::validate::DEFAULT_REFERENCE {
            self.run(
                "SELECT 1 FROM shares WHERE user_id = ? AND reference = ?",
                &[user_id.into(), reference.into()],
            )?
        } else {
            self.run(
                "SELECT 1 FROM shares WHERE project_id = ? AND reference = ?",
                &[project_id.into(), reference.into()],
            )?
        };
        Ok(!rows.is_empty())
    }

    /// Inserts a share; `false` when a uniqueness constraint (a racing duplicate) refused it.
    pub fn insert_share(&self, s: &NewShare<'_>, now_ms: i64) -> ApiResult<bool> {
        let rows = self.run(
            "INSERT INTO shares (id, project_id, user_id, keychain_id, reference, storage_method_id, \
             entropy, data, salt, iterations, length, digest, passkey_id, passkey_env, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            &[
                [
                    s.id.into(),
                    s.project_id.into(),
                    s.user_id.into(),
                    s.keychain_id.into(),
                    s.reference.into(),
                    s.storage_method_id.into(),
                ]
                .as_slice(),
                &self.content_values(s.id, &s.content)?,
                &[now_ms.into(), now_ms.into()],
            ]
            .concat(),
        )?;
        Ok(!rows.is_empty())
    }

    /// Replaces what the share `id` holds; `false` when there is no such share.
    pub fn update_share(&self, id: &str, c: &ShareContent<'_>, now_ms: i64) -> ApiResult<bool> {
        let rows = self.run(
            "UPDATE shares SET entropy = ?, data = ?, salt = ?, iterations = ?, length = ?, digest = ?, \
             passkey_id = ?, passkey_env = ?, updated_at = ? WHERE id = ? RETURNING id",
            &[
                self.content_values(id, c)?.as_slice(),
                &[now_ms.into(), id.into()],
            ]
            .concat(),
        )?;
        Ok(!rows.is_empty())
    }

    /// What share `id` holds, its data sealed, as the columns `entropy, data, salt, iterations,
    /// length, digest, passkey_id, passkey_env` take it.
    fn content_values(&self, id: &str, c: &ShareContent<'_>) -> ApiResult<[Value; 8]> {
        Ok([
            c.entropy.into(),
            self.seal("shares", id, c.data)?.into(),
            opt_str(c.salt),
            c.iterations.into(),
            c.length.into(),
            opt_str(c.digest),
            opt_str(c.passkey_id),
            opt_str(c.passkey_env),
        ])
    }

    pub fn convert_to_project(&self, share_id: &str, data: &str, now_ms: i64) -> ApiResult<()> {
        let sealed = self.seal("shares", share_id, data)?;
        self.run(
            "UPDATE shares SET entropy = 'project', data = ?, updated_at = ? WHERE id = ? AND entropy = 'none'",
            &[sealed.into(), now_ms.into(), share_id.into()],
        )?;
        Ok(())
    }

    pub fn delete_share(
        &self,
        user_id: &str,
        keychain_id: &str,
        reference: &str,
    ) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM shares WHERE user_id = ? AND keychain_id = ? AND reference = ? RETURNING id",
            &[user_id.into(), keychain_id.into(), reference.into()],
        )?;
        Ok(!rows.is_empty())
    }
}
