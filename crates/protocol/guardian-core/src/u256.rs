//! A minimal unsigned 256-bit integer: enough for wei amounts, fees and EIP-712 `uint256`/`int256`
//! words (parse, compare, two's complement, minimal big-endian bytes). A full bignum crate would
//! add size to every component for arithmetic guardian never does.

use core::fmt;

/// Unsigned 256-bit integer, stored big-endian so that the derived ordering is numeric.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct U256([u8; 32]);

impl U256 {
    pub const ZERO: U256 = U256([0; 32]);
    pub const MAX: U256 = U256([0xff; 32]);

    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        U256(bytes)
    }

    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    pub fn from_u64(v: u64) -> Self {
        let mut b = [0u8; 32];
        let (_, low) = b.split_at_mut(24);
        low.copy_from_slice(&v.to_be_bytes());
        U256(b)
    }

    /// Big-endian bytes of any length up to 32 (leading zeros allowed beyond that are not).
    pub fn from_be_slice(bytes: &[u8]) -> Option<Self> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let significant = bytes.get(start..)?;
        if significant.len() > 32 {
            return None;
        }
        let mut b = [0u8; 32];
        let (_, low) = b.split_at_mut(32 - significant.len());
        low.copy_from_slice(significant);
        Some(U256(b))
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// The value as u64, if it fits.
    pub fn to_u64(&self) -> Option<u64> {
        let (high, low) = self.0.split_at(24);
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        Some(u64::from_be_bytes(low.try_into().ok()?))
    }

    /// Big-endian bytes without leading zeros (zero is the empty slice): the RLP integer form.
    pub fn minimal_be_bytes(&self) -> &[u8] {
        let start = self.0.iter().position(|b| *b != 0).unwrap_or(32);
        self.0.get(start..).unwrap_or(&[])
    }

    /// Number of significant bits (0 for zero).
    pub fn bits(&self) -> u32 {
        match self.0.iter().position(|b| *b != 0) {
            None => 0,
            Some(i) => {
                let lead = self.0.get(i).copied().unwrap_or(0);
                // i < 32 here, so the cast cannot truncate.
                (32 - i as u32) * 8 - lead.leading_zeros()
            }
        }
    }

    /// `2^n` for n < 256.
    pub fn pow2(n: u32) -> Option<Self> {
        if n >= 256 {
            return None;
        }
        let mut b = [0u8; 32];
        let byte = 31 - (n / 8) as usize;
        *b.get_mut(byte)? = 1 << (n % 8);
        Some(U256(b))
    }

    /// Two's complement negation modulo 2^256 (used for EIP-712 `intN` words).
    pub fn wrapping_neg(&self) -> Self {
        let mut out = [0u8; 32];
        let mut carry = 1u16;
        for (o, b) in out.iter_mut().rev().zip(self.0.iter().rev()) {
            let v = u16::from(!*b) + carry;
            *o = (v & 0xff) as u8;
            carry = v >> 8;
        }
        U256(out)
    }

    /// `self * m + a`, or None on overflow.
    fn checked_mul_add(&self, m: u8, a: u8) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut carry = u16::from(a);
        for (o, b) in out.iter_mut().rev().zip(self.0.iter().rev()) {
            let v = u16::from(*b) * u16::from(m) + carry;
            *o = (v & 0xff) as u8;
            carry = v >> 8;
        }
        (carry == 0).then_some(U256(out))
    }

    /// Parses ASCII decimal digits (no sign, no prefix; leading zeros are the caller's policy).
    pub fn from_dec_digits(s: &str) -> Option<Self> {
        if s.is_empty() {
            return None;
        }
        let mut v = U256::ZERO;
        for c in s.bytes() {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul_add(10, c - b'0')?;
        }
        Some(v)
    }

    /// Parses hex digits (no prefix, either case, any length as long as the value fits).
    pub fn from_hex_digits(s: &str) -> Option<Self> {
        if s.is_empty() {
            return None;
        }
        let mut v = U256::ZERO;
        for c in s.bytes() {
            v = v.checked_mul_add(16, crate::hex::nibble(c)?)?;
        }
        Some(v)
    }

    /// Minimal `0x` quantity as in Ethereum JSON-RPC: `0x0`, `0x1a`, never leading zeros.
    pub fn to_quantity(&self) -> String {
        let hex = crate::hex::encode(self.minimal_be_bytes());
        match hex.strip_prefix("0x0") {
            // A leading zero nibble is dropped; the empty value is "0x0".
            Some(rest) => format!("0x{rest}"),
            None if hex == "0x" => "0x0".to_string(),
            None => hex,
        }
    }

    /// Decimal representation.
    pub fn to_dec_string(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut digits = Vec::new();
        let mut v = self.0;
        while v.iter().any(|b| *b != 0) {
            let mut rem = 0u16;
            for b in v.iter_mut() {
                let cur = (rem << 8) | u16::from(*b);
                *b = (cur / 10) as u8;
                rem = cur % 10;
            }
            digits.push(b'0' + rem as u8);
        }
        digits.reverse();
        String::from_utf8(digits).unwrap_or_default()
    }
}

impl fmt::Debug for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U256({})", self.to_quantity())
    }
}

impl fmt::Display for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dec_string())
    }
}

impl From<u64> for U256 {
    fn from(v: u64) -> Self {
        U256::from_u64(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip_and_bounds() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(U256::from_dec_digits(max), Some(U256::MAX));
        assert_eq!(U256::MAX.to_dec_string(), max);
        let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(U256::from_dec_digits(over), None);
        assert_eq!(U256::from_dec_digits(""), None);
        assert_eq!(U256::from_dec_digits("1a"), None);
        assert_eq!(
            U256::from_dec_digits("1000000000000000000")
                .unwrap()
                .to_quantity(),
            "0xde0b6b3a7640000"
        );
    }

    #[test]
    fn quantities_and_bits() {
        assert_eq!(U256::ZERO.to_quantity(), "0x0");
        assert_eq!(U256::from_u64(1).to_quantity(), "0x1");
        assert_eq!(U256::from_u64(0x1546d72).to_quantity(), "0x1546d72");
        assert_eq!(U256::from_u64(0x100).to_quantity(), "0x100");
        assert_eq!(U256::ZERO.bits(), 0);
        assert_eq!(U256::from_u64(255).bits(), 8);
        assert_eq!(U256::from_u64(256).bits(), 9);
        assert_eq!(U256::MAX.bits(), 256);
        assert_eq!(U256::pow2(8), Some(U256::from_u64(256)));
        assert_eq!(U256::pow2(256), None);
        assert_eq!(U256::from_u64(1).wrapping_neg(), U256::MAX);
        assert_eq!(U256::ZERO.wrapping_neg(), U256::ZERO);
        assert_eq!(U256::from_hex_digits("00ff"), Some(U256::from_u64(255)));
        assert_eq!(U256::from_hex_digits(&"f".repeat(65)), None);
        assert_eq!(U256::from_be_slice(&[0u8; 40]), Some(U256::ZERO));
        assert_eq!(U256::from_be_slice(&[1u8; 33]), None);
        assert_eq!(U256::from_u64(7).to_u64(), Some(7));
        assert_eq!(U256::MAX.to_u64(), None);
    }
}
