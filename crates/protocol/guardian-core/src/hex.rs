//! Hex in and out, per docs/guardian.md, "Design: conventions": in, `0x` optional and either case; out, lowercase with `0x`.

/// Why a hex string did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// An odd number of hex digits (after the optional `0x`).
    #[error("odd number of hex digits")]
    OddLength,
    /// A character that is not a hex digit, at this position of the digits (after `0x`).
    #[error("non-hex character at digit {position}")]
    InvalidChar { position: usize },
}

/// Strips one leading `0x` or `0X`, if present.
pub fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex with an optional `0x`/`0X` prefix, digits in either case. `""` and `"0x"` decode
/// to no bytes; callers that need a length check it themselves (with their own error).
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let digits = strip_0x(s).as_bytes();
    if !digits.len().is_multiple_of(2) {
        // Report a bad character before the odd length: "0xzz1" is better described as non-hex.
        if let Some(position) = digits.iter().position(|c| nibble(*c).is_none()) {
            return Err(HexError::InvalidChar { position });
        }
        return Err(HexError::OddLength);
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => return Err(HexError::OddLength),
        };
        let hi = nibble(hi).ok_or(HexError::InvalidChar { position: 2 * i })?;
        let lo = nibble(lo).ok_or(HexError::InvalidChar {
            position: 2 * i + 1,
        })?;
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

/// Why a hex string did not decode to the expected fixed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedHexError {
    /// Not hex at all.
    Hex(HexError),
    /// Valid hex, but this many bytes.
    Length(usize),
}

/// Decodes hex (as [`decode`]) into exactly `N` bytes.
pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], FixedHexError> {
    let bytes = decode(s).map_err(FixedHexError::Hex)?;
    let len = bytes.len();
    <[u8; N]>::try_from(bytes).map_err(|_| FixedHexError::Length(len))
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes` with a `0x` prefix.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    push_hex(&mut out, bytes);
    out
}

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    // A nibble always has a digit; the fallback only keeps the no-panic lint satisfied.
    let digit = |n: u8| char::from(DIGITS.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0'));
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(*b));
    }
}
