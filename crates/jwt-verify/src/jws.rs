//! Compact JWS parsing and verification.

use crate::Validation;
use crate::error::Error;
use crate::keys::{Algorithm, Jwks, PublicKey};
use serde_json::{Map, Value};

/// Where the verification key comes from.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    /// A JWKS: the key is selected by the header's `kid` (see [`Validation::require_kid`]); the
    /// header `alg` must suit it and equal the JWK's `alg` when that is set.
    Jwks(&'a Jwks),
    /// A single key (shield's PEM mode): `kid` is ignored; `alg` must suit the key.
    Key(&'a PublicKey),
}

/// The protected header fields this crate looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg`.
    pub alg: Algorithm,
    /// `kid`, if present and a string.
    pub kid: Option<String>,
    /// `typ`, if present and a string (not checked).
    pub typ: Option<String>,
}

/// A verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// `sub` (a non-empty string).
    pub sub: String,
    /// Every claim of the payload, `sub` included.
    pub claims: Map<String, Value>,
}

/// Verifies a compact JWS token and its claims at time `now` (unix seconds).
///
/// Order: length, structure (three base64url parts; unpadded, padding tolerated), header (JSON
/// object, `alg` supported and allowed, no `crit`), key selection, signature, claims
/// (`exp`, `nbf`, `iat`, `iss`, `aud`/`azp`, `sub`). The first failure is returned.
pub fn verify(token: &str, keys: Keys<'_>, validation: &Validation, now: u64) -> Result<Verified, Error> {
    let _ = (token, keys, validation, now, crate::claims::check);
    Err(Error::Malformed("token"))
}

/// Whether `token` looks like a JWT: three `.`-separated non-empty base64url parts, padding
/// optional (shield.md §5.1 step 2). No decoding beyond the alphabet check.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            let body = p.trim_end_matches('=');
            !body.is_empty()
                && p.len() - body.len() <= 2
                && body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
