//! V2–V4: parsing the `Authorization` value. Deliberately stricter than upstream (docs/keyservice.md, "Design: differences from sessionistheader"): exact
//! parameter names, no duplicates, fixed-length hex, and keyids kept whole across `=`.

use core::fmt;

use crate::error::{Error, Reason};
use crate::{HASH_BYTES, MAX_KEYID_CHARS, NONCE_BYTES};

/// A syntactically valid `ss1` header (V2–V4 passed). Nothing is authenticated yet.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    keyid: String,
    hash: [u8; HASH_BYTES],
    nonce: [u8; NONCE_BYTES],
}

impl Authorization {
    /// The keyid exactly as sent (namespace for `/connect`, session token for `/key`).
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The hex-decoded `hash` parameter.
    pub fn hash(&self) -> &[u8; HASH_BYTES] {
        &self.hash
    }

    /// The hex-decoded `nonce` parameter.
    pub fn nonce(&self) -> &[u8; NONCE_BYTES] {
        &self.nonce
    }

    /// The nonce as 128 lowercase hex digits, the canonical form for the replay cache (V8), so a
    /// client cannot replay by changing the case of the hex.
    pub fn nonce_hex(&self) -> String {
        hex::encode(self.nonce)
    }
}

impl fmt::Debug for Authorization {
    // The keyid may be a session token (a credential in its own right), so only its length shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("keyid_len", &self.keyid.len())
            .finish_non_exhaustive()
    }
}

/// Parses an `Authorization` value per V2–V4 (docs/keyservice.md, "Design: ss1 verification order").
pub fn parse_authorization(value: &str) -> Result<Authorization, Error> {
    // V2: a client that pasted the whole header line into the value gets a clear internal reason;
    // it would fail the scheme check anyway.
    if starts_with_ignore_ascii_case(value, "authorization:") {
        return Err(Error::new(Reason::HeaderNamePrefix));
    }
    let rest = match value.get(..3) {
        Some(scheme) if scheme.eq_ignore_ascii_case(crate::SCHEME) => value.get(3..).unwrap_or(""),
        _ => return Err(Error::new(Reason::WrongScheme)),
    };
    // At least one space separates the scheme from the parameters ("ss1keyid=..." is not ss1).
    if !rest.starts_with(' ') {
        return Err(Error::new(Reason::WrongScheme));
    }

    // V3: split on ',' and at each part's first '='. Split-at-first keeps keyids containing '='
    // whole (upstream truncates them). Empty parts, such as a trailing comma, fail.
    let mut keyid: Option<&str> = None;
    let mut hash: Option<&str> = None;
    let mut nonce: Option<&str> = None;
    for part in rest.split(',') {
        let part = part.trim_matches(is_blank);
        let Some((name, val)) = part.split_once('=') else {
            return Err(Error::new(Reason::MalformedParameter));
        };
        let slot = match name {
            "keyid" => &mut keyid,
            "hash" => &mut hash,
            "nonce" => &mut nonce,
            _ => return Err(Error::new(Reason::UnknownParameter)),
        };
        if slot.replace(val).is_some() {
            return Err(Error::new(Reason::DuplicateParameter));
        }
    }
    let (Some(keyid), Some(hash), Some(nonce)) = (keyid, hash, nonce) else {
        return Err(Error::new(Reason::MissingParameter));
    };

    // V4.
    if !keyid_is_valid(keyid) {
        return Err(Error::new(Reason::InvalidKeyId));
    }
    let hash = decode_hex_64(hash).ok_or(Error::new(Reason::InvalidHash))?;
    let nonce = decode_hex_64(nonce).ok_or(Error::new(Reason::InvalidNonce))?;
    Ok(Authorization {
        keyid: keyid.to_owned(),
        hash,
        nonce,
    })
}

/// V4 keyid rule: 1–256 characters, no control characters; inner spaces are fine but surrounding
/// blanks are not (a part is trimmed, so they could only come from `keyid= x`, which no conformant
/// client sends per C5).
pub(crate) fn keyid_is_valid(keyid: &str) -> bool {
    let count = keyid.chars().count();
    (1..=MAX_KEYID_CHARS).contains(&count)
        && !keyid.chars().any(char::is_control)
        && !keyid.starts_with(is_blank)
        && !keyid.ends_with(is_blank)
}

/// Exactly 128 hex digits, either case (hex::decode accepts both) → 64 bytes.
fn decode_hex_64(s: &str) -> Option<[u8; 64]> {
    if s.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "15622b52c1a45de70bca5102c7af5006cc64008a8e71aaf787361391fcf534590e99b4a19aa305ee32c9ab28661c99ffd33683a13b8c0f6ff7236f6030f86d6f";

    fn z() -> String {
        "0".repeat(128)
    }

    fn reason(v: &str) -> Reason {
        parse_authorization(v).unwrap_err().reason()
    }

    #[test]
    fn parses_canonical() {
        let a =
            parse_authorization(&format!("ss1 keyid=my key id, hash={H}, nonce={}", z())).unwrap();
        assert_eq!(a.keyid(), "my key id");
        assert_eq!(hex::encode(a.hash()), H);
        assert_eq!(a.nonce_hex(), z());
    }

    #[test]
    fn keyid_keeps_equals_signs() {
        let a = parse_authorization(&format!("ss1 keyid=a=b==, hash={H}, nonce={}", z())).unwrap();
        assert_eq!(a.keyid(), "a=b==");
    }

    #[test]
    fn scheme_rules() {
        let tail = format!("keyid=k, hash={H}, nonce={}", z());
        assert!(parse_authorization(&format!("Ss1 {tail}")).is_ok());
        assert!(parse_authorization(&format!("ss1   {tail}")).is_ok());
        assert!(parse_authorization(&format!("ss1 \t{tail}")).is_ok());
        assert_eq!(reason(&format!("ss1{tail}")), Reason::WrongScheme);
        assert_eq!(reason(&format!("ss1\t{tail}")), Reason::WrongScheme);
        assert_eq!(reason(&format!("ss2 {tail}")), Reason::WrongScheme);
        assert_eq!(reason(&format!(" ss1 {tail}")), Reason::WrongScheme);
        assert_eq!(reason(""), Reason::WrongScheme);
        assert_eq!(reason("ss1"), Reason::WrongScheme);
        assert_eq!(reason("ss1 "), Reason::MalformedParameter);
        assert_eq!(reason("é"), Reason::WrongScheme);
        assert_eq!(reason("ssé"), Reason::WrongScheme);
        assert_eq!(
            reason(&format!("authorization: ss1 {tail}")),
            Reason::HeaderNamePrefix
        );
    }

    #[test]
    fn parameter_rules() {
        let n = z();
        let cases = [
            (
                format!("ss1 keyid=k, hash={H}, nonce={n}, "),
                Reason::MalformedParameter,
            ),
            (
                format!("ss1 keyid=k,, hash={H}, nonce={n}"),
                Reason::MalformedParameter,
            ),
            (
                format!("ss1 keyid=k, hash={H}, nonce"),
                Reason::MalformedParameter,
            ),
            (
                format!("ss1 Keyid=k, hash={H}, nonce={n}"),
                Reason::UnknownParameter,
            ),
            (
                format!("ss1 keyid =k, hash={H}, nonce={n}"),
                Reason::UnknownParameter,
            ),
            (format!("ss1 keyid=k, nonce={n}"), Reason::MissingParameter),
            (
                format!("ss1 hash={H}, keyid=k, hash={H}, nonce={n}"),
                Reason::DuplicateParameter,
            ),
        ];
        for (header, want) in cases {
            assert_eq!(reason(&header), want, "{header}");
        }
    }

    #[test]
    fn keyid_rules() {
        let n = z();
        let with = |k: &str| parse_authorization(&format!("ss1 keyid={k}, hash={H}, nonce={n}"));
        assert!(with(&"x".repeat(256)).is_ok());
        assert!(with(&"é".repeat(256)).is_ok());
        assert_eq!(
            with(&"x".repeat(257)).unwrap_err().reason(),
            Reason::InvalidKeyId
        );
        assert_eq!(with("").unwrap_err().reason(), Reason::InvalidKeyId);
        assert_eq!(with(" k").unwrap_err().reason(), Reason::InvalidKeyId);
        assert_eq!(with("a\u{1}b").unwrap_err().reason(), Reason::InvalidKeyId);
        assert_eq!(with("a\u{7f}b").unwrap_err().reason(), Reason::InvalidKeyId);
        assert_eq!(with("a\u{85}b").unwrap_err().reason(), Reason::InvalidKeyId);
    }

    #[test]
    fn debug_hides_keyid() {
        let a =
            parse_authorization(&format!("ss1 keyid=topsecret, hash={H}, nonce={}", z())).unwrap();
        assert!(!format!("{a:?}").contains("topsecret"));
    }
}
