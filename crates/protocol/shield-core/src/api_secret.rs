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

/// The prefix of a stored digest of an imported secret that is not 64 hex characters (upstream's
/// legacy UUID secrets): `legacy-sha256:<lowercase hex SHA-256 of the secret's bytes>`
/// (docs/shield.md, "Design: import from upstream Shield").
pub const LEGACY_DIGEST_PREFIX: &str = "legacy-sha256:";

/// What checking a presented secret against a stored value found.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// The secret matches; the stored value stays.
    Match,
    /// The secret matches an imported bcrypt hash: store this fast digest in its place.
    MatchUpgrade(String),
    /// The secret does not match.
    Mismatch,
}

/// The bytes upstream Shield hashes for a presented secret: the hex-decoded bytes when the secret
/// is hex (either case), else its UTF-8 bytes (legacy UUID secrets).
fn upstream_bytes(secret: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(hex::decode(secret).unwrap_or_else(|_| secret.as_bytes().to_vec()))
}

/// The fast digest stored for a secret that matched an imported value: keyward's own digest for
/// a 32-byte hex secret, else [`LEGACY_DIGEST_PREFIX`] and the SHA-256 of upstream's bytes.
pub fn upgraded_digest(secret: &str) -> String {
    digest_hex(secret).unwrap_or_else(|| {
        format!(
            "{LEGACY_DIGEST_PREFIX}{}",
            hex::encode(Sha256::digest(upstream_bytes(secret).as_slice()))
        )
    })
}

/// Checks a presented secret against a stored value of any form (docs/shield.md, "Design:
/// authentication"): keyward's SHA-256 digest, an upgraded legacy digest, or an imported bcrypt
/// hash (`$2a$`, `$2b$`, `$2y$`), verified over upstream's bytes. Digests are compared in
/// constant time; bcrypt compares in constant time itself.
pub fn check(secret: &str, stored: &str) -> Check {
    if stored.starts_with("$2") {
        let bytes = upstream_bytes(secret);
        // bcrypt reads at most 72 bytes; upstream's secrets are 32 bytes or a 36-character UUID.
        return match bcrypt::verify(bytes.as_slice(), stored) {
            Ok(true) => Check::MatchUpgrade(upgraded_digest(secret)),
            _ => Check::Mismatch,
        };
    }
    let matches = if let Some(want) = stored.strip_prefix(LEGACY_DIGEST_PREFIX) {
        let got = hex::encode(Sha256::digest(upstream_bytes(secret).as_slice()));
        got.as_bytes()
            .ct_eq(want.to_ascii_lowercase().as_bytes())
            .into()
    } else {
        verify(secret, stored)
    };
    if matches {
        Check::Match
    } else {
        Check::Mismatch
    }
}

#[cfg(test)]
mod imported {
    use super::*;

    const HEX: &str = "4f0e6a4c8a3b1f7e2d9c5b0a1e3f6d8c7b2a9e4d1c0f3b6a5e8d7c2b1a0f9e3d";
    const UUID: &str = "0b5f3c1e-8d2a-4f6b-9c7e-1a2b3c4d5e6f";

    #[test]
    fn bcrypt_of_the_decoded_bytes_matches_and_upgrades_to_the_native_digest() {
        let raw = hex::decode(HEX).unwrap();
        let stored = bcrypt::hash_with_salt(&raw, 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA);
        let want = digest_hex(HEX).unwrap();
        assert_eq!(check(HEX, &stored), Check::MatchUpgrade(want.clone()));
        assert_eq!(
            check(&HEX.to_ascii_uppercase(), &stored),
            Check::MatchUpgrade(want.clone())
        );
        assert_eq!(check(&HEX.replace('4', "5"), &stored), Check::Mismatch);
        assert_eq!(check(&want, &stored), Check::Mismatch);
        // After the upgrade the secret is checked as any native one.
        assert_eq!(check(HEX, &want), Check::Match);
    }

    #[test]
    fn legacy_uuid_secrets_match_their_utf8_bytes_and_upgrade_to_a_prefixed_digest() {
        let stored = bcrypt::hash_with_salt(UUID.as_bytes(), 4, [9u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        let Check::MatchUpgrade(upgraded) = check(UUID, &stored) else {
            panic!("a legacy UUID secret must match");
        };
        assert!(upgraded.starts_with(LEGACY_DIGEST_PREFIX));
        assert_eq!(check(UUID, &upgraded), Check::Match);
        assert_eq!(check(&UUID.replace('0', "1"), &upgraded), Check::Mismatch);
        assert_eq!(check("", &upgraded), Check::Mismatch);
        assert_eq!(check(UUID, "$2a$garbage"), Check::Mismatch);
    }
}
