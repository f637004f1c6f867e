//! Encryption sessions (docs/shield.md, "Design: encryption sessions"): a sealed encryption
//! part, consumed once.

use zeroize::Zeroizing;

use super::{Store, opt_str, text};
use crate::error::ApiResult;

impl Store<'_> {
    pub fn insert_session(
        &self,
        id: &str,
        project_id: &str,
        part: &str,
        user_id: Option<&str>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> ApiResult<()> {
        self.purge_expired("encryption_sessions", now_ms)?;
        let sealed = self.seal("encryption_sessions", id, part)?;
        self.run(
            "INSERT INTO encryption_sessions (id, project_id, encryption_part, user_id, otp_verified, \
             created_at, expires_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
            &[
                id.into(),
                project_id.into(),
                sealed.into(),
                opt_str(user_id),
                now_ms.into(),
                (now_ms + ttl_ms).into(),
            ],
        )?;
        Ok(())
    }

    /// Consumes a live session of the project atomically; its part, or `None`.
    pub fn consume_session(
        &self,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<Zeroizing<String>>> {
        self.session_part(
            "DELETE FROM encryption_sessions WHERE id = ? AND project_id = ? AND expires_at > ? \
             RETURNING encryption_part",
            id,
            project_id,
            now_ms,
        )
    }

    /// A live session's part, left unconsumed (docs/shield.md, "Design: share routes", retries:
    /// a retry uses the session only if it shows the stored share is the one it would have
    /// written).
    pub fn peek_session(
        &self,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<Zeroizing<String>>> {
        self.session_part(
            "SELECT encryption_part FROM encryption_sessions WHERE id = ? AND project_id = ? \
             AND expires_at > ?",
            id,
            project_id,
            now_ms,
        )
    }

    /// Runs `sql` (which reads or deletes the live session `id` of the project) and opens the
    /// part it returns.
    fn session_part(
        &self,
        sql: &str,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<Zeroizing<String>>> {
        self.first(sql, &[id.into(), project_id.into(), now_ms.into()], |row| {
            self.open("encryption_sessions", id, &text(row, 0)?)
        })
    }
}
