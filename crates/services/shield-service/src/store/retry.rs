//! What a same-content retry of a share write needs (docs/shield.md, "Design: share routes",
//! retries): the receipt a write through an encryption session leaves. (The look at a live
//! session's part without consuming it is `SessionUse::Peek`, beside the sessions.)

use super::{Store, text};
use crate::error::ApiResult;

impl Store<'_> {
    /// Records the receipt of share `share_id` written through a session, until `expires_at`;
    /// expired receipts of every share go first.
    pub fn insert_share_receipt(
        &self,
        share_id: &str,
        receipt: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.purge_expired("share_receipts", now_ms)?;
        self.run(
            "INSERT INTO share_receipts (share_id, receipt, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (share_id) DO UPDATE SET receipt = excluded.receipt, expires_at = excluded.expires_at",
            &[share_id.into(), receipt.into(), expires_at.into()],
        )?;
        Ok(())
    }

    /// The live receipt of share `share_id`, if it was written through a session recently.
    pub fn share_receipt(&self, share_id: &str, now_ms: i64) -> ApiResult<Option<String>> {
        self.first(
            "SELECT receipt FROM share_receipts WHERE share_id = ? AND expires_at > ?",
            &[share_id.into(), now_ms.into()],
            |row| text(row, 0),
        )
    }
}
