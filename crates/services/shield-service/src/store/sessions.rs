//! Encryption sessions (docs/shield.md, "Design: encryption sessions"): a sealed encryption
//! part, consumed once.

use zeroize::Zeroizing;

use super::{Store, opt_str, text};
use crate::error::ApiResult;

/// How a share route uses an encryption session.
#[derive(Clone, Copy)]
pub enum SessionUse {
    /// Consumed atomically: a session opens one request.
    Consume,
    /// Left unconsumed (docs/shield.md, "Design: share routes", retries: a retry uses the
    /// session only if it shows the stored share is the one it would have written).
    Peek,
}

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

    /// A live session of the project: its part, or `None`; consumed or left as `how` says.
    pub fn session_part(
        &self,
        how: SessionUse,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<Zeroizing<String>>> {
        let sql = match how {
            SessionUse::Consume => {
                "DELETE FROM encryption_sessions WHERE id = ? AND project_id = ? AND expires_at > ? \
                 RETURNING encryption_part"
            }
            SessionUse::Peek => {
                "SELECT encryption_part FROM encryption_sessions WHERE id = ? AND project_id = ? \
                 AND expires_at > ?"
            }
        };
        self.first(sql, &[id.into(), project_id.into(), now_ms.into()], |row| {
            self.open("encryption_sessions", id, &text(row, 0)?)
        })
    }
}
