//! keyward key-check value (KCV) and the complete reconstruction of the project key
//! (docs/shield.md, "Design: the project key").
//!
//! KCV = base64std(HMAC-SHA256(key = K, "keyward/shield/key-check/v1")). It is stored beside the
//! DB part so that a well-formed but wrong `encryption_part` is rejected before anything is
//! written under the wrong key (docs/shield.md, "Design: differences from upstream", item 3). A MAC (not a hash of K) so the stored value is a keyed
//! commitment with a domain-separated label, useless for anything but this check.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::key::{KEY_LEN, Key, RngError};
use crate::shamir::{self, InvalidPart, SplitKey};

/// The HMAC message that domain-separates the key-check value.
pub const KEY_CHECK_LABEL: &[u8] = b"keyward/shield/key-check/v1";

/// SHA-256 block size: HMAC keys shorter than this are zero-padded to it (RFC 2104).
const SHA256_BLOCK_LEN: usize = 64;

/// Raw HMAC-SHA256(K, label).
fn key_check_bytes(key: &Key) -> [u8; 32] {
    // RFC 2104 zero-pads a short key to the block size, so HMAC over the padded 64-byte key is
    // exactly HMAC over K. Going through the fixed-size `KeyInit::new` avoids the fallible
    // `new_from_slice`, whose error case cannot happen but would need a panic path.
    let mut padded = Zeroizing::new([0u8; SHA256_BLOCK_LEN]);
    for (dst, src) in padded.iter_mut().zip(key.as_bytes()) {
        *dst = *src;
    }
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&(*padded).into());
    mac.update(KEY_CHECK_LABEL);
    mac.finalize().into_bytes().into()
}

/// The key-check value of `key`: 44 chars of standard base64.
pub fn key_check_value(key: &Key) -> String {
    STANDARD.encode(key_check_bytes(key))
}

/// Whether `key` matches the stored key-check value, compared in constant time.
///
/// A stored value that is not valid base64 (or not 32 bytes) never matches: a corrupt KCV
/// fails closed rather than disabling the check.
pub fn verify_key_check(key: &Key, stored_kcv: &str) -> bool {
    let Ok(stored) = STANDARD.decode(stored_kcv) else {
        return false;
    };
    let expected = key_check_bytes(key);
    // Length mismatch returns false early inside `ct_eq`; the length is public anyway.
    expected.as_slice().ct_eq(stored.as_slice()).into()
}

/// Reconstructs the project key from the stored DB part, the caller's `encryption_part` and the
/// stored key-check value: docs/shield.md, "Design: the project key" steps 1–5.
///
/// `kcv` is `None` for projects imported without one (upstream behaviour: a wrong part yields
/// a wrong key, detected only by AES-GCM on read). Every failure is 400 EC_INVALID
/// `Invalid encryption part`.
pub fn project_key(
    db_part: &str,
    encryption_part: &str,
    kcv: Option<&str>,
) -> Result<Key, InvalidPart> {
    let key = shamir::combine(db_part, encryption_part)?;
    match kcv {
        Some(stored) if !verify_key_check(&key, stored) => Err(InvalidPart::KeyCheckMismatch),
        _ => Ok(key),
    }
}

/// Everything a project needs when its key is created (`/register` with
/// `generate_encryption_key`, `POST /project/encryption-key`); K itself is already wiped.
pub struct NewProjectKey {
    /// x = 1 part: store sealed.
    pub db_part: Zeroizing<String>,
    /// x = 2 part: return once as `encryption_part`, never store.
    pub encryption_part: Zeroizing<String>,
    /// Store beside the DB part (`encryption_keys.key_check`).
    pub key_check: String,
}

impl fmt::Debug for NewProjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProjectKey")
            .field("db_part", &"[REDACTED]")
            .field("encryption_part", &"[REDACTED]")
            .field("key_check", &self.key_check)
            .finish()
    }
}

/// Generates K, splits it and computes its KCV (docs/shield.md, "Design: the project key").
pub fn generate_project_key() -> Result<NewProjectKey, RngError> {
    let key = Key::generate()?;
    let SplitKey {
        db_part,
        encryption_part,
    } = shamir::split(&key)?;
    Ok(NewProjectKey {
        db_part,
        encryption_part,
        key_check: key_check_value(&key),
    })
}

// Keep the 32-byte assumption of `key_check_bytes` visible to the compiler.
const _: () = assert!(KEY_LEN <= SHA256_BLOCK_LEN);
