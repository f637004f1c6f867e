//! Base64url without padding, as JOSE (JWS, JWK) encodes every binary field.

use base64::Engine as _;

/// Decodes unpadded base64url (RFC 7515 section 2). Padding, whitespace and non-canonical
/// trailing bits are rejected, so each byte string has exactly one encoding.
pub(crate) fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .ok()
}
