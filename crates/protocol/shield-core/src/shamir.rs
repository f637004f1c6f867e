//! 2-of-2 Shamir secret sharing of the project key over GF(2^8) (docs/shield.md, "Design: the project key" steps 1–4).
//!
//! Each key byte K_i gets its own degree-1 polynomial p_i(x) = K_i ⊕ a_i·x with a_i uniform in
//! 0..=255 (0 allowed, as upstream). A part is `[x] || p_0(x) .. p_31(x)` (33 bytes), standard
//! base64 with padding (44 chars): x = 1 is the DB part, x = 2 the `encryption_part`.
//!
//! No crate implements this exact byte format (upstream Shield's Go library), so the field
//! arithmetic is written here. It is **table-free**: multiplication is a fixed 8-round
//! shift-and-add with masks, inversion a fixed addition chain for a^254. Log/exp tables would be
//! shorter but index memory with secret bytes (the key and the coefficients), which leaks through
//! cache timing; the bit-serial form has no secret-dependent branches or memory accesses.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::key::{KEY_LEN, Key, RngError, fill_random};

/// x coordinate of the DB part (stored, sealed).
pub const DB_PART_X: u8 = 1;
/// x coordinate of the `encryption_part` (handed to the project once, never stored).
pub const ENCRYPTION_PART_X: u8 = 2;
/// Decoded length of a part: the x byte plus one y byte per key byte.
pub const PART_LEN: usize = 1 + KEY_LEN;
/// Decoded length of an upstream legacy part, which omits the x byte (docs/shield.md, "Design: the project key" step 2).
pub const LEGACY_PART_LEN: usize = KEY_LEN;
/// Length of a part in standard base64 with padding.
pub const PART_B64_LEN: usize = 44;

/// The AES reduction polynomial x^8 + x^4 + x^3 + x + 1 without its x^8 term.
const REDUCTION: u8 = 0x1b;

/// Multiplication in GF(2^8) modulo 0x11b, in constant time (no branches or lookups on the operands).
pub fn gf_mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        // 0xff when the low bit of b is set, else 0x00: add a without branching on b.
        product ^= a & 0u8.wrapping_sub(b & 1);
        // Multiply a by x; reduce when the bit shifted out was set, again via a mask.
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (REDUCTION & carry);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse in GF(2^8) as a^254 (Fermat), in constant time; `gf_inv(0)` is 0.
pub fn gf_inv(a: u8) -> u8 {
    // Fixed addition chain: a^2, a^3, a^6, a^12, a^15, a^30, a^60, a^120, a^127, a^254.
    let a2 = gf_mul(a, a);
    let a3 = gf_mul(a2, a);
    let a6 = gf_mul(a3, a3);
    let a12 = gf_mul(a6, a6);
    let a15 = gf_mul(a12, a3);
    let a30 = gf_mul(a15, a15);
    let a60 = gf_mul(a30, a30);
    let a120 = gf_mul(a60, a60);
    let a127 = gf_mul(a120, a6);
    let a127 = gf_mul(a127, a);
    gf_mul(a127, a127)
}

/// Division in GF(2^8); `None` when dividing by zero.
pub fn gf_div(a: u8, b: u8) -> Option<u8> {
    if b == 0 {
        None
    } else {
        Some(gf_mul(a, gf_inv(b)))
    }
}

/// The two parts of a freshly split key, each `[x] || y` in standard base64 (44 chars).
///
/// Both are secret: the DB part is stored sealed, the encryption part is shown to the project
/// once. Wiped on drop; `Debug` is redacted.
pub struct SplitKey {
    /// x = 1 part, stored (sealed) with the project.
    pub db_part: Zeroizing<String>,
    /// x = 2 part, returned once as `encryption_part`, never stored.
    pub encryption_part: Zeroizing<String>,
}

impl fmt::Debug for SplitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SplitKey { db_part: [REDACTED], encryption_part: [REDACTED] }")
    }
}

/// Splits `key` into the DB part (x = 1) and the encryption part (x = 2) with fresh CSPRNG
/// coefficients.
pub fn split(key: &Key) -> Result<SplitKey, RngError> {
    let mut coefficients = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(coefficients.as_mut_slice())?;
    Ok(split_with_coefficients(key, &coefficients))
}

/// Deterministic split with the given coefficients a_i: for test vectors and for callers that
/// bring their own randomness. Reusing coefficients across keys leaks the XOR of the keys.
pub fn split_with_coefficients(key: &Key, coefficients: &[u8; KEY_LEN]) -> SplitKey {
    SplitKey {
        db_part: encode_part(key, coefficients, DB_PART_X),
        encryption_part: encode_part(key, coefficients, ENCRYPTION_PART_X),
    }
}

/// `[x] || p_0(x) .. p_31(x)`, base64std.
fn encode_part(key: &Key, coefficients: &[u8; KEY_LEN], x: u8) -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; PART_LEN]);
    let (x_slot, ys) = raw.split_at_mut(1);
    x_slot.fill(x);
    for ((y, k), a) in ys.iter_mut().zip(key.as_bytes()).zip(coefficients) {
        *y = k ^ gf_mul(*a, x);
    }
    Zeroizing::new(STANDARD.encode(raw.as_slice()))
}

/// Why a part was rejected. Every variant maps to the same wire error, 400 EC_INVALID
/// `Invalid encryption part` (its `Display`); [`InvalidPart::reason`] is for logs and never
/// contains key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", Self::MESSAGE)]
#[non_exhaustive]
pub enum InvalidPart {
    /// The stored DB part is not valid padded standard base64 (docs/shield.md, "Design: the project key" step 1).
    DbPartEncoding,
    /// The stored DB part is neither 32 nor 33 bytes, so it cannot yield a 32-byte key.
    DbPartLength,
    /// The encryption part is not valid padded standard base64 (docs/shield.md, "Design: the project key" step 1).
    EncryptionPartEncoding,
    /// The encryption part is neither 32 (legacy) nor 33 bytes (docs/shield.md, "Design: the project key" step 3).
    EncryptionPartLength,
    /// The encryption part's x is 0 or equals the DB part's x (docs/shield.md, "Design: the project key" step 3).
    EncryptionPartCoordinate,
    /// The reconstructed key does not match the stored key-check value (docs/shield.md, "Design: the project key" step 5).
    KeyCheckMismatch,
}

impl InvalidPart {
    /// The exact wire message (docs/shield.md, "Design: error catalogue", code `EC_INVALID`).
    pub const MESSAGE: &'static str = "Invalid encryption part";

    /// A short, key-free description for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidPart::DbPartEncoding => "stored DB part is not valid base64",
            InvalidPart::DbPartLength => "stored DB part has the wrong length",
            InvalidPart::EncryptionPartEncoding => "encryption part is not valid base64",
            InvalidPart::EncryptionPartLength => "encryption part has the wrong length",
            InvalidPart::EncryptionPartCoordinate => "encryption part has an invalid x coordinate",
            InvalidPart::KeyCheckMismatch => "reconstructed key does not match the key-check value",
        }
    }

    /// True when the fault lies in the stored DB part rather than in the caller's input.
    pub fn is_db_part_fault(&self) -> bool {
        matches!(
            self,
            InvalidPart::DbPartEncoding | InvalidPart::DbPartLength
        )
    }
}

/// Reconstructs K from the DB part and an encryption part, docs/shield.md, "Design: the project key" steps 1–4
/// (no key-check; see [`crate::project_key`] for the full procedure).
pub fn combine(db_part: &str, encryption_part: &str) -> Result<Key, InvalidPart> {
    // Step 1: base64std (padded, canonical) decode of both parts.
    let d = Zeroizing::new(
        STANDARD
            .decode(db_part)
            .map_err(|_| InvalidPart::DbPartEncoding)?,
    );
    let e = Zeroizing::new(
        STANDARD
            .decode(encryption_part)
            .map_err(|_| InvalidPart::EncryptionPartEncoding)?,
    );

    // Step 2: upstream's legacy 32-byte parts carry no x byte; their x is implied by the role.
    // The spec's "length = len(D) − 1" would allow other key sizes; K is always AES-256 here, so
    // a DB part that is not 32/33 bytes is rejected too.
    let d = with_x(&d, DB_PART_X).ok_or(InvalidPart::DbPartLength)?;
    // Step 3 (kw): exactly 33 bytes after step 2 (upstream silently ignores extra bytes) ...
    let e = with_x(&e, ENCRYPTION_PART_X).ok_or(InvalidPart::EncryptionPartLength)?;
    let (&x_d, y_d) = d.split_first().ok_or(InvalidPart::DbPartLength)?;
    let (&x_e, y_e) = e.split_first().ok_or(InvalidPart::EncryptionPartLength)?;
    // ... and x_E is neither 0 (such a "part" would be the key itself) nor x_D (the two points
    // would coincide: division by zero below).
    if x_e == 0 || x_e == x_d {
        return Err(InvalidPart::EncryptionPartCoordinate);
    }

    // Step 4: Lagrange interpolation at 0. The basis weights depend only on the public x
    // coordinates, so they are computed once: l_D = x_E/(x_D⊕x_E), l_E = x_D/(x_D⊕x_E).
    let weight_d = gf_div(x_e, x_d ^ x_e).ok_or(InvalidPart::EncryptionPartCoordinate)?;
    let weight_e = gf_div(x_d, x_d ^ x_e).ok_or(InvalidPart::EncryptionPartCoordinate)?;
    let mut key = Key::zeroed();
    for ((k, yd), ye) in key.as_mut_bytes().iter_mut().zip(y_d).zip(y_e) {
        *k = gf_mul(*yd, weight_d) ^ gf_mul(*ye, weight_e);
    }
    Ok(key)
}

/// A decoded part as `[x] || y` (33 bytes): 33-byte input as is, 32-byte legacy input with
/// `legacy_x` prepended (docs/shield.md, "Design: the project key" step 2), any other length `None`. Copied into a fixed array rather
/// than `Vec::insert`, which could reallocate and leave an unwiped copy behind.
fn with_x(raw: &[u8], legacy_x: u8) -> Option<Zeroizing<[u8; PART_LEN]>> {
    let mut part = Zeroizing::new([0u8; PART_LEN]);
    match raw.len() {
        PART_LEN => part.copy_from_slice(raw),
        LEGACY_PART_LEN => {
            let (x, y) = part.split_at_mut(1);
            x.fill(legacy_x);
            y.copy_from_slice(raw);
        }
        _ => return None,
    }
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference multiplication by the schoolbook definition (carry-less multiply, then reduce).
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut wide: u16 = 0;
        for i in 0..8 {
            if (b >> i) & 1 == 1 {
                wide ^= u16::from(a) << i;
            }
        }
        for bit in (8..16).rev() {
            if (wide >> bit) & 1 == 1 {
                wide ^= 0x11b << (bit - 8);
            }
        }
        wide as u8
    }

    #[test]
    fn mul_matches_schoolbook_for_all_pairs() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(gf_mul(a, b), slow_mul(a, b), "{a:#x} * {b:#x}");
            }
        }
    }

    #[test]
    fn inverse_is_inverse_for_all_nonzero() {
        assert_eq!(gf_inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "{a:#x}");
        }
        assert_eq!(gf_div(7, 0), None);
        assert_eq!(gf_div(gf_mul(0x57, 0x83), 0x83), Some(0x57));
    }

    #[test]
    fn fips197_examples() {
        assert_eq!(gf_mul(0x57, 0x83), 0xc1);
        assert_eq!(gf_mul(0x57, 0x13), 0xfe);
    }

    #[test]
    fn debug_is_redacted() {
        let key = Key::from_bytes([7u8; KEY_LEN]);
        let split = split_with_coefficients(&key, &[9u8; KEY_LEN]);
        let shown = format!("{split:?} {key:?}");
        assert!(!shown.contains(split.db_part.as_str()));
        assert!(!shown.contains(split.encryption_part.as_str()));
        assert!(shown.contains("REDACTED"));
    }
}
