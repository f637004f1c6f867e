//! The few RLP encoders transactions need, on top of `alloy-rlp` (maintained with alloy, no_std,
//! and no heavier than parity's `rlp` in a wasm build).

use crate::u256::U256;
use alloy_rlp::{Encodable, Header};

/// Appends the RLP string encoding of `bytes`.
pub fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    bytes.encode(out);
}

/// Appends an RLP integer: minimal big-endian bytes, zero as the empty string.
pub fn encode_uint(out: &mut Vec<u8>, value: &U256) {
    value.minimal_be_bytes().encode(out);
}

/// Appends an RLP integer for a u64.
pub fn encode_u64(out: &mut Vec<u8>, value: u64) {
    value.encode(out);
}

/// Appends a list whose items are already RLP-encoded and concatenated in `payload`.
pub fn encode_list(out: &mut Vec<u8>, payload: &[u8]) {
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(out);
    out.extend_from_slice(payload);
}

/// A list from its already-encoded payload, as a new buffer.
pub fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    encode_list(&mut out, payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let mut out = Vec::new();
        encode_uint(&mut out, &U256::ZERO);
        assert_eq!(out, [0x80]);
        out.clear();
        encode_u64(&mut out, 0);
        assert_eq!(out, [0x80]);
        out.clear();
        encode_u64(&mut out, 0x7f);
        assert_eq!(out, [0x7f]);
        out.clear();
        encode_uint(&mut out, &U256::from_u64(0x80));
        assert_eq!(out, [0x81, 0x80]);
        out.clear();
        encode_bytes(&mut out, &[]);
        assert_eq!(out, [0x80]);
        out.clear();
        encode_bytes(&mut out, &[0u8; 56]);
        assert_eq!(out.get(..2), Some(&[0xb8, 56][..]));
        assert_eq!(list(&[]), [0xc0]);
        let long = list(&[0u8; 56]);
        assert_eq!(long.get(..2), Some(&[0xf8, 56][..]));
    }
}
