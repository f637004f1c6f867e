//! Integers in requests, per docs/guardian.md, "Design: conventions": a JSON number in 0…2^53−1, a decimal string
//! without leading zeros, or a `0x` hex string. JSON numbers are capped at 2^53−1 because a
//! JavaScript client silently rounds larger ones: a wei amount typed as a number could otherwise
//! be signed as a different value than the user saw.

use crate::u256::U256;
use serde_json::Value;

/// Largest integer a JSON number may carry (2^53 − 1).
pub const MAX_SAFE_JSON_INTEGER: u64 = (1 << 53) - 1;

/// Why a value is not an acceptable integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntError {
    /// Not a number or string (e.g. bool, object, null).
    #[error("must be an integer: a JSON number, a decimal string or a 0x hex string")]
    WrongType,
    /// A JSON number with a fraction or exponent, or beyond ±(2^53−1).
    #[error("JSON numbers must be integers up to 2^53-1; use a decimal or 0x hex string")]
    UnsafeNumber,
    /// A string that is not canonical decimal nor `0x` hex.
    #[error("must be a decimal string without leading zeros or a 0x hex string")]
    Malformed,
    /// Negative where only unsigned values are allowed.
    #[error("must not be negative")]
    Negative,
    /// Does not fit the target range.
    #[error("is out of range")]
    OutOfRange,
}

/// A parsed integer as sign and magnitude.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedInt {
    pub negative: bool,
    pub magnitude: U256,
}

/// Parses an integer value; `-` is accepted (on strings and numbers) only when `allow_negative`.
pub fn parse_int(v: &Value, allow_negative: bool) -> Result<SignedInt, IntError> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if u > MAX_SAFE_JSON_INTEGER {
                    return Err(IntError::UnsafeNumber);
                }
                return Ok(SignedInt {
                    negative: false,
                    magnitude: U256::from_u64(u),
                });
            }
            if let Some(i) = n.as_i64() {
                // as_u64 failed, so i < 0.
                if !allow_negative {
                    return Err(IntError::Negative);
                }
                let m = i.unsigned_abs();
                if m > MAX_SAFE_JSON_INTEGER {
                    return Err(IntError::UnsafeNumber);
                }
                return Ok(SignedInt {
                    negative: true,
                    magnitude: U256::from_u64(m),
                });
            }
            Err(IntError::UnsafeNumber)
        }
        Value::String(s) => parse_int_str(s, allow_negative),
        _ => Err(IntError::WrongType),
    }
}

/// Parses the string forms: canonical decimal or `0x` hex, with an optional leading `-`.
pub fn parse_int_str(s: &str, allow_negative: bool) -> Result<SignedInt, IntError> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let magnitude = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() {
            return Err(IntError::Malformed);
        }
        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(IntError::Malformed);
        }
        U256::from_hex_digits(hex).ok_or(IntError::OutOfRange)?
    } else {
        if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
            return Err(IntError::Malformed);
        }
        if body.len() > 1 && body.starts_with('0') {
            return Err(IntError::Malformed);
        }
        U256::from_dec_digits(body).ok_or(IntError::OutOfRange)?
    };
    if negative {
        if !allow_negative {
            return Err(IntError::Negative);
        }
        if magnitude.is_zero() {
            // "-0" is not canonical; rejecting it keeps one spelling per value.
            return Err(IntError::Malformed);
        }
    }
    Ok(SignedInt {
        negative,
        magnitude,
    })
}

/// An unsigned 256-bit integer.
pub fn parse_u256(v: &Value) -> Result<U256, IntError> {
    parse_int(v, false).map(|i| i.magnitude)
}

/// An unsigned 64-bit integer.
pub fn parse_u64(v: &Value) -> Result<u64, IntError> {
    parse_u256(v)?.to_u64().ok_or(IntError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_u64(&json!(0)), Ok(0));
        assert_eq!(
            parse_u64(&json!(9007199254740991u64)),
            Ok(MAX_SAFE_JSON_INTEGER)
        );
        assert_eq!(parse_u64(&json!("18446744073709551615")), Ok(u64::MAX));
        assert_eq!(parse_u64(&json!("0x10")), Ok(16));
        assert_eq!(parse_u64(&json!("0X0010")), Ok(16));
        assert_eq!(parse_u64(&json!("0")), Ok(0));
        let neg = parse_int(&json!("-0x10"), true).unwrap();
        assert!(neg.negative);
        assert_eq!(neg.magnitude, U256::from_u64(16));
        assert!(parse_int(&json!(-5), true).unwrap().negative);
    }

    #[test]
    fn rejected_forms() {
        assert_eq!(
            parse_u64(&json!(9007199254740992u64)),
            Err(IntError::UnsafeNumber)
        );
        assert_eq!(parse_u64(&json!(1.5)), Err(IntError::UnsafeNumber));
        assert_eq!(parse_u64(&json!(1e3)), Err(IntError::UnsafeNumber));
        assert_eq!(parse_u64(&json!(-1)), Err(IntError::Negative));
        assert_eq!(parse_u64(&json!("-1")), Err(IntError::Negative));
        assert_eq!(parse_u64(&json!("01")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!("")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!("0x")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!(" 1")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!("+1")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!("1e3")), Err(IntError::Malformed));
        assert_eq!(parse_u64(&json!("0xg")), Err(IntError::Malformed));
        assert_eq!(
            parse_u64(&json!("18446744073709551616")),
            Err(IntError::OutOfRange)
        );
        assert_eq!(parse_u64(&json!(true)), Err(IntError::WrongType));
        assert_eq!(parse_u64(&json!(null)), Err(IntError::WrongType));
        assert_eq!(parse_int(&json!("-0"), true), Err(IntError::Malformed));
        assert_eq!(parse_int(&json!("--1"), true), Err(IntError::Malformed));
        let too_big = format!("0x1{}", "0".repeat(64));
        assert_eq!(parse_u256(&json!(too_big)), Err(IntError::OutOfRange));
        let max = format!("0x{}", "f".repeat(64));
        assert_eq!(parse_u256(&json!(max)), Ok(U256::MAX));
    }
}
