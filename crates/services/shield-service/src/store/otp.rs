//! OTP and 2FA storage (docs/shield.md, "Design: OTP and 2FA"): the project flag, one pending
//! code per user (its salted digest, never the code), invalidations, the per-project hourly
//! send counters, the users' hashed contacts and the sessions' `otp_verified` flag.

use super::{Store, opt_str, opt_text, text};
use crate::error::ApiResult;

/// A user's pending code, as stored.
pub(crate) struct OtpCode {
    pub salt: String,
    pub code_digest: String,
    pub skip_verification: bool,
    pub expires_at: i64,
}

/// A user's stored contact digests (upstream's SHA-512 hex).
pub(crate) struct Contacts {
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Store<'_> {
    /// Turns 2FA on; `false` when it already was on (or the project is gone).
    pub fn enable_2fa(&self, project_id: &str, now_ms: i64) -> ApiResult<bool> {
        let rows = self.run(
            "UPDATE projects SET enable_2fa = 1, updated_at = ? WHERE id = ? AND enable_2fa = 0 \
             RETURNING id",
            &[now_ms.into(), project_id.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Stores the user's pending code, replacing any earlier one (and its failed attempts).
    #[allow(clippy::too_many_arguments)]
    pub fn put_otp(
        &self,
        project_id: &str,
        user_id: &str,
        salt: &str,
        code_digest: &str,
        skip_verification: bool,
        now_ms: i64,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO otp_codes (project_id, user_id, salt, code_digest, skip_verification, \
             failed_attempts, created_at, expires_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?) \
             ON CONFLICT (project_id, user_id) DO UPDATE SET salt = excluded.salt, \
             code_digest = excluded.code_digest, skip_verification = excluded.skip_verification, \
             failed_attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at",
            &[
                project_id.into(),
                user_id.into(),
                salt.into(),
                code_digest.into(),
                i64::from(skip_verification).into(),
                now_ms.into(),
                expires_at.into(),
            ],
        )?;
        Ok(())
    }

    pub fn otp(&self, project_id: &str, user_id: &str) -> ApiResult<Option<OtpCode>> {
        self.first(
            "SELECT salt, code_digest, skip_verification, expires_at FROM otp_codes \
             WHERE project_id = ? AND user_id = ?",
            &[project_id.into(), user_id.into()],
            |row| {
                Ok(OtpCode {
                    salt: text(row, 0)?,
                    code_digest: text(row, 1)?,
                    skip_verification: row.integer(2).unwrap_or(0) != 0,
                    expires_at: row.integer(3).unwrap_or(0),
                })
            },
        )
    }

    /// Consumes the pending code with this digest, atomically: `true` for exactly one caller.
    pub fn take_otp(&self, project_id: &str, user_id: &str, code_digest: &str) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM otp_codes WHERE project_id = ? AND user_id = ? AND code_digest = ? \
             RETURNING user_id",
            &[project_id.into(), user_id.into(), code_digest.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Counts a wrong guess against the pending code with this digest; the failures so far, or
    /// `None` when that code is gone (consumed, replaced or invalidated meanwhile).
    pub fn fail_otp(
        &self,
        project_id: &str,
        user_id: &str,
        code_digest: &str,
    ) -> ApiResult<Option<i64>> {
        self.first(
            "UPDATE otp_codes SET failed_attempts = failed_attempts + 1 \
             WHERE project_id = ? AND user_id = ? AND code_digest = ? RETURNING failed_attempts",
            &[project_id.into(), user_id.into(), code_digest.into()],
            |row| Ok(row.integer(0).unwrap_or(i64::MAX)),
        )
    }

    /// Records that the user's code was invalidated by wrong guesses.
    pub fn add_otp_invalidation(
        &self,
        id: &str,
        project_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO otp_invalidations (id, project_id, user_id, invalidated_at) VALUES (?, ?, ?, ?)",
            &[id.into(), project_id.into(), user_id.into(), now_ms.into()],
        )?;
        Ok(())
    }

    /// The user's invalidations since `since_ms`; older ones of the project are deleted.
    pub fn otp_invalidations_since(
        &self,
        project_id: &str,
        user_id: &str,
        since_ms: i64,
    ) -> ApiResult<i64> {
        self.run(
            "DELETE FROM otp_invalidations WHERE project_id = ? AND invalidated_at <= ?",
            &[project_id.into(), since_ms.into()],
        )?;
        let rows = self.run(
            "SELECT COUNT(*) FROM otp_invalidations WHERE project_id = ? AND user_id = ? \
             AND invalidated_at > ?",
            &[project_id.into(), user_id.into(), since_ms.into()],
        )?;
        Ok(rows.first().and_then(|r| r.integer(0)).unwrap_or(0))
    }

    /// Counts one send on `channel` in the project's window starting at `window_start`; the
    /// count so far. The project's older windows are deleted.
    pub fn count_otp_send(
        &self,
        project_id: &str,
        channel: &str,
        window_start: i64,
    ) -> ApiResult<i64> {
        let rows = self.run(
            "INSERT INTO otp_send_counters (project_id, channel, window_start, count) \
             VALUES (?, ?, ?, 1) ON CONFLICT (project_id, channel, window_start) \
             DO UPDATE SET count = otp_send_counters.count + 1 RETURNING count",
            &[project_id.into(), channel.into(), window_start.into()],
        )?;
        let count = rows.first().and_then(|r| r.integer(0)).unwrap_or(1);
        if count == 1 {
            self.run(
                "DELETE FROM otp_send_counters WHERE project_id = ? AND window_start < ?",
                &[project_id.into(), window_start.into()],
            )?;
        }
        Ok(count)
    }

    pub fn contacts(&self, project_id: &str, user_id: &str) -> ApiResult<Option<Contacts>> {
        self.first(
            "SELECT email_sha512, phone_sha512 FROM user_contacts WHERE project_id = ? AND user_id = ?",
            &[project_id.into(), user_id.into()],
            |row| {
                Ok(Contacts {
                    email: opt_text(row, 0)?,
                    phone: opt_text(row, 1)?,
                })
            },
        )
    }

    /// Records a contact digest where the user has none of that kind yet; the stored contacts
    /// afterwards (the first one recorded wins a race).
    pub fn save_contact(
        &self,
        project_id: &str,
        user_id: &str,
        email: Option<&str>,
        phone: Option<&str>,
        now_ms: i64,
    ) -> ApiResult<Option<Contacts>> {
        self.first(
            "INSERT INTO user_contacts (project_id, user_id, email_sha512, phone_sha512, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, user_id) DO UPDATE SET \
             email_sha512 = COALESCE(user_contacts.email_sha512, excluded.email_sha512), \
             phone_sha512 = COALESCE(user_contacts.phone_sha512, excluded.phone_sha512), \
             updated_at = excluded.updated_at RETURNING email_sha512, phone_sha512",
            &[
                project_id.into(),
                user_id.into(),
                opt_str(email),
                opt_str(phone),
                now_ms.into(),
                now_ms.into(),
            ],
            |row| {
                Ok(Contacts {
                    email: opt_text(row, 0)?,
                    phone: opt_text(row, 1)?,
                })
            },
        )
    }

    /// Marks a session created with a verified code.
    pub fn mark_session_otp_verified(&self, id: &str) -> ApiResult<()> {
        self.run(
            "UPDATE encryption_sessions SET otp_verified = 1 WHERE id = ?",
            &[id.into()],
        )?;
        Ok(())
    }

    /// Whether a live session of the project was created with a verified code; `None` when
    /// there is no such live session.
    pub fn session_otp_verified(
        &self,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<bool>> {
        self.first(
            "SELECT otp_verified FROM encryption_sessions WHERE id = ? AND project_id = ? \
             AND expires_at > ?",
            &[id.into(), project_id.into(), now_ms.into()],
            |row| Ok(row.integer(0).unwrap_or(0) != 0),
        )
    }
}
