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
        // Opportunistic purge of expired sessions.
        self.run(
            "DELETE FROM encryption_sessions WHERE expires_at <= ?",
            &[now_ms.into()],
        )?;
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
        self.first(
            "DELETE FROM encryption_sessions WHERE id = ? AND project_id = ? AND expires_at > ? \
             RETURNING encryption_part",
            &[id.into(), project_id.into(), now_ms.into()],
            |row| self.open("encryption_sessions", id, &text(row, 0)?),
        )
    }
}
