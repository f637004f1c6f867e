//! The longest value keyservice accepts for each free-text field it stores, in one place
//! (docs/keyservice.md, "Limits"). Over a limit → 400 `BAD_REQUEST` naming the field and the
//! limit; nothing is written. Body sizes (413) are in `config`.

/// Namespace names: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`, so at most 64 bytes.
pub const NAMESPACE: usize = 64;
/// `userId` of `/connect`: 1–256 bytes of UTF-8 without control characters.
pub const USER_ID: usize = 256;
/// Entries of a namespace's `allowed_cidrs` (each an address or CIDR, so short by shape).
pub const CIDRS: usize = 64;
/// The `Content-Type` stored with a key: 1–255 visible ASCII characters.
pub const CONTENT_TYPE: usize = 255;

/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` (at most [`NAMESPACE`] bytes). Namespaces never contain `|`, which
/// keeps the envelope AADs unambiguous.
pub fn valid_namespace(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && rest.len() < NAMESPACE
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        None => false,
    }
}

/// `userId`: 1–[`USER_ID`] UTF-8 bytes, no control characters.
pub fn valid_user_id(s: &str) -> bool {
    (1..=USER_ID).contains(&s.len()) && !s.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}')
}
