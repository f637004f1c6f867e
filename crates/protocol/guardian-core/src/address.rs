//! Ethereum addresses: derivation from a public key, EIP-55 checksums, strict parsing.

use crate::keccak::keccak256;
use core::fmt;
use core::str::FromStr;

/// A 20-byte Ethereum address. `Display`/`Debug` print EIP-55.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

/// Why a string is not an acceptable address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not 40 hex digits (after an optional `0x`).
    #[error("must be 40 hex digits (0x optional)")]
    Malformed,
    /// Mixed case that does not match the EIP-55 checksum (a likely typo).
    #[error("has mixed case that fails the EIP-55 checksum")]
    BadChecksum,
}

impl Address {
    /// Address of an uncompressed SEC1 public key (`0x04 ‖ X ‖ Y`): the last 20 bytes of
    /// keccak256(X ‖ Y). Returns None if the input is not 65 bytes starting with 0x04.
    pub fn from_uncompressed_public_key(pubkey: &[u8]) -> Option<Self> {
        match pubkey.split_first() {
            Some((0x04, xy)) if xy.len() == 64 => {
                let hash = keccak256(xy);
                let tail: [u8; 20] = hash.get(12..)?.try_into().ok()?;
                Some(Address(tail))
            }
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// EIP-55 mixed-case checksum encoding, with `0x`.
    pub fn to_checksum(&self) -> String {
        let lower = crate::hex::encode(&self.0);
        let digits = lower.get(2..).unwrap_or_default();
        let hash = keccak256(digits.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in digits.chars().enumerate() {
            // Nibble i of the hash of the lowercase hex decides the case of digit i.
            let byte = hash.get(i / 2).copied().unwrap_or(0);
            let nib = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            if c.is_ascii_alphabetic() && nib >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Parses 40 hex digits with an optional `0x`. All-lowercase and all-uppercase are accepted
    /// as unchecksummed; mixed case must be the exact EIP-55 form (docs/guardian.md, "Design: conventions").
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let digits = crate::hex::strip_0x(s);
        if digits.len() != 40 {
            return Err(AddressError::Malformed);
        }
        let bytes: [u8; 20] =
            crate::hex::decode_fixed(digits).map_err(|_| AddressError::Malformed)?;
        let addr = Address(bytes);
        let has_lower = digits.bytes().any(|c| c.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            let expected = addr.to_checksum();
            if expected.get(2..) != Some(digits) {
                return Err(AddressError::BadChecksum);
            }
        }
        Ok(addr)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let a = Address::parse(good).unwrap();
        assert_eq!(a.to_checksum(), good);
        assert_eq!(Address::parse(&good[2..]).unwrap(), a);
        assert_eq!(Address::parse(&good.to_lowercase()).unwrap(), a);
        assert_eq!(
            Address::parse(&format!("0x{}", good[2..].to_uppercase())).unwrap(),
            a
        );
        // One letter's case flipped.
        let bad = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(Address::parse(bad), Err(AddressError::BadChecksum));
        assert_eq!(Address::parse("0x1234"), Err(AddressError::Malformed));
        assert_eq!(Address::parse(""), Err(AddressError::Malformed));
        assert_eq!(Address::parse("0x"), Err(AddressError::Malformed));
        assert_eq!(
            Address::parse("0xzz5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"),
            Err(AddressError::Malformed)
        );
        assert_eq!(
            Address::parse(&format!("{good}00")),
            Err(AddressError::Malformed)
        );
        // Multi-byte UTF-8 must not panic on the length/slicing logic.
        assert_eq!(
            Address::parse(&"é".repeat(20)),
            Err(AddressError::Malformed)
        );
        assert_eq!(Address::from_uncompressed_public_key(&[4u8; 64]), None);
    }
}
