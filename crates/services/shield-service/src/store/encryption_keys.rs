//! The project's encryption key: its sealed DB part and key-check value
//! (docs/shield.md, "Design: the project key").

use zeroize::Zeroizing;

use super::{Store, opt_text, text};
use crate::error::ApiResult;

pub(crate) struct EncryptionKey {
    pub db_part: Zeroizing<String>,
    pub key_check: Option<String>,
}

impl Store<'_> {
    /// Inserts the project key unless one exists; `false` if it existed.
    pub fn insert_encryption_key(
        &self,
        project_id: &str,
        db_part: &str,
        key_check: &str,
        now_ms: i64,
    ) -> ApiResult<bool> {
        let sealed = self.seal("encryption_keys", project_id, db_part)?;
        let rows = self.run(
            "INSERT INTO encryption_keys (project_id, db_part, key_check, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (project_id) DO NOTHING RETURNING project_id",
            &[project_id.into(), sealed.into(), key_check.into(), now_ms.into()],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn encryption_key(&self, project_id: &str) -> ApiResult<Option<EncryptionKey>> {
        self.first(
            "SELECT db_part, key_check FROM encryption_keys WHERE project_id = ?",
            &[project_id.into()],
            |row| {
                Ok(EncryptionKey {
                    db_part: self.open("encryption_keys", project_id, &text(row, 0)?)?,
                    key_check: opt_text(row, 1)?,
                })
            },
        )
    }
}
