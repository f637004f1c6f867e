//! Same-content retries of a share write (docs/shield.md, "Design: share routes", retries):
//! comparing a retried secret with the stored one without a timing signal, and the receipt a
//! write through an encryption session leaves so that its retry, whose session is consumed, can
//! still be recognised.

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Domain separation of the receipt's MAC.
pub const RECEIPT_LABEL: &[u8] = b"keyward/shield/retry-receipt/v1";

/// Whether two secrets are equal, in time independent of where they differ and of their
/// lengths (both are hashed first).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// HMAC-SHA256 keyed by the session id (through SHA-256, so any length is one fixed-size key)
/// over the label, the share's id and the plaintext secret the share was written with.
fn receipt_bytes(session_id: &str, share_id: &str, secret: &[u8]) -> [u8; 32] {
    let mut key = Zeroizing::new([0u8; 64]);
    for (dst, src) in key.iter_mut().zip(Sha256::digest(session_id.as_bytes())) {
        *dst = src;
    }
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&(*key).into());
    mac.update(RECEIPT_LABEL);
    mac.update(&[0]);
    mac.update(share_id.as_bytes());
    mac.update(&[0]);
    mac.update(secret);
    mac.finalize().into_bytes().into()
}

/// The receipt of a share written through `session_id`, as stored (64 lowercase hex). Without
/// the session id (deleted when consumed, known to the client) it confirms nothing.
pub fn receipt(session_id: &str, share_id: &str, secret: &[u8]) -> String {
    hex::encode(receipt_bytes(session_id, share_id, secret))
}

/// Whether a retry through `session_id` of `secret` matches the stored receipt (constant time).
/// A stored value that is not 32 bytes of hex never matches.
pub fn receipt_matches(session_id: &str, share_id: &str, secret: &[u8], stored: &str) -> bool {
    let Ok(stored) = hex::decode(stored) else {
        return false;
    };
    receipt_bytes(session_id, share_id, secret)
        .as_slice()
        .ct_eq(stored.as_slice())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret(b"share", b"share"));
        assert!(!same_secret(b"share", b"shard"));
        assert!(!same_secret(b"share", b"share "));
        assert!(same_secret(b"", b""));
    }

    #[test]
    fn a_receipt_binds_session_share_and_secret() {
        let r = receipt("session-1", "share-1", b"secret");
        assert_eq!(r.len(), 64);
        assert!(receipt_matches("session-1", "share-1", b"secret", &r));
        assert!(!receipt_matches("session-2", "share-1", b"secret", &r));
        assert!(!receipt_matches("session-1", "share-2", b"secret", &r));
        assert!(!receipt_matches("session-1", "share-1", b"secret!", &r));
        assert!(!receipt_matches("session-1", "share-1", b"secret", "zz"));
        assert!(!receipt_matches("session-1", "share-1", b"secret", ""));
    }
}
