//! Project API secrets and the operator token (docs/shield.md, "Design: authentication"; item 5
//! of "Design: differences from upstream").
//!
//! The API secret is 32 CSPRNG bytes shown once as 64 lowercase hex; only the lowercase hex
//! SHA-256 of the 32 *decoded* bytes is stored. A fast hash suffices (no bcrypt) because the
//! secret has 256 bits of entropy: there is nothing to brute-force.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::key::{RngError, fill_random};

/// Decoded length of an API secret.
pub const API_SECRET_LEN: usize = 32;

/// A new API secret: `(secret_hex, stored_sha256_hex)`. Show the first once, store the second.
pub fn generate() -> Result<(Zeroizing<String>, String), RngError> {
    let mut raw = Zeroizing::new([0u8; API_SECRET_LEN]);
    fill_random(raw.as_mut_slice())?;
    let secret = Zeroizing::new(hex::encode(raw.as_slice()));
    Ok((secret, hex::encode(Sha256::digest(raw.as_slice()))))
}

/// The stored digest (lowercase hex SHA-256) of a presented secret; `None` unless it is hex
/// (either case) of exactly 32 bytes.
pub fn digest_hex(secret_hex: &str) -> Option<String> {
    let raw = Zeroizing::new(hex::decode(secret_hex).ok()?);
    if raw.len() != API_SECRET_LEN {
        return None;
    }
    Some(hex::encode(Sha256::digest(raw.as_slice())))
}

/// Whether a presented secret matches the stored digest, compared in constant time.
pub fn verify(secret_hex: &str, stored_sha256_hex: &str) -> bool {
    let Some(presented) = digest_hex(secret_hex) else {
        return false;
    };
    // Both sides are lowercase hex of a digest; comparing them leaks nothing about the secret.
    presented
        .as_bytes()
        .ct_eq(stored_sha256_hex.to_ascii_lowercase().as_bytes())
        .into()
}

/// docs/shield.md, "Design: authentication": `X-Operator-Token` check. Digests are compared so that the comparison takes the same
/// time whatever the lengths of the two tokens.
pub fn operator_token_matches(presented: &str, configured: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let configured = Sha256::digest(configured.as_bytes());
    presented.as_slice().ct_eq(configured.as_slice()).into()
}
