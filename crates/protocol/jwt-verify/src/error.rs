//! Error types. Messages are fixed strings: no key material, no token contents.

use std::fmt;

/// Why a token was rejected by [`crate::verify`].
///
/// Callers usually need three distinctions: [`Error::UnknownKid`] (refetch the JWKS once and
/// retry), [`Error::Expired`] (guardian's `ID_TOKEN_EXPIRED`), and everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Longer than [`crate::Validation::max_token_len`].
    TooLong,
    /// Not three `.`-separated base64url parts, or a part is not valid base64url / JSON / an
    /// object. The string names the part ("header", "payload", "signature", "token").
    Malformed(&'static str),
    /// Header `alg` is missing, `none`, `HS*` or otherwise unsupported.
    UnsupportedAlgorithm,
    /// Header `alg` is supported but not in [`crate::Validation::algorithms`].
    AlgorithmNotAllowed,
    /// Header `alg` does not suit the key (type, curve), or differs from the JWK's `alg`.
    AlgorithmKeyMismatch,
    /// Header has `crit`: no extension is understood, so the token is rejected (RFC 7515 section 4.1.11).
    CritUnsupported,
    /// JWKS mode with [`crate::Validation::require_kid`], and the header has no (string) `kid`.
    MissingKid,
    /// No key of the JWKS matches the header's `kid` (or, without `kid`, no key suits `alg`).
    /// The JWKS may have rotated: refetch it once, then give up.
    UnknownKid,
    /// No `kid`, and several keys of the JWKS suit `alg`.
    AmbiguousKey,
    /// The key is unacceptable for this validation (e.g. RSA modulus below the minimum).
    WeakKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `now >= exp + leeway`.
    Expired,
    /// `nbf > now + leeway`.
    NotYetValid,
    /// `iat > now + leeway`.
    IssuedInFuture,
    /// A required claim is missing (`exp`, `iat`, `iss`, `aud`, `sub`, `azp`).
    MissingClaim(&'static str),
    /// A claim has the wrong type (e.g. `exp` not a number) or is empty (`sub`).
    InvalidClaim(&'static str),
    /// `iss` differs from the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience, or `azp` differs from it.
    WrongAudience,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLong => f.write_str("token too long"),
            Error::Malformed(part) => write!(f, "malformed token ({part})"),
            Error::UnsupportedAlgorithm => f.write_str("unsupported or forbidden alg"),
            Error::AlgorithmNotAllowed => f.write_str("alg not allowed"),
            Error::AlgorithmKeyMismatch => f.write_str("alg does not match the key"),
            Error::CritUnsupported => f.write_str("unsupported crit header"),
            Error::MissingKid => f.write_str("missing kid"),
            Error::UnknownKid => f.write_str("no key matches kid"),
            Error::AmbiguousKey => f.write_str("several keys match and no kid"),
            Error::WeakKey => f.write_str("key not acceptable"),
            Error::InvalidSignature => f.write_str("invalid signature"),
            Error::Expired => f.write_str("token expired"),
            Error::NotYetValid => f.write_str("token not yet valid"),
            Error::IssuedInFuture => f.write_str("token issued in the future"),
            Error::MissingClaim(c) => write!(f, "missing claim {c}"),
            Error::InvalidClaim(c) => write!(f, "invalid claim {c}"),
            Error::WrongIssuer => f.write_str("unexpected issuer"),
            Error::WrongAudience => f.write_str("unexpected audience"),
        }
    }
}

impl std::error::Error for Error {}

/// Why a key (PEM, JWK or JWKS document) could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PEM, or the base64/DER inside is invalid.
    InvalidPem,
    /// A PEM label other than `PUBLIC KEY`, `CERTIFICATE` or `RSA PUBLIC KEY` (the latter only
    /// for [`crate::KeyType::Rsa`]).
    UnsupportedPemLabel,
    /// The key inside is not of the requested [`crate::KeyType`], or its algorithm/curve is
    /// unsupported (supported: RSA, EC P-256/P-384/P-521, Ed25519).
    KeyTypeMismatch,
    /// Key parameters are invalid (bad point, bad modulus/exponent, wrong length).
    InvalidKey,
    /// Unsupported JWK: `kty`/`crv` not handled, `use` other than `sig`, or unknown `alg`.
    UnsupportedKey,
    /// The JWKS document is not JSON or has no `keys` array.
    InvalidJwks,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::InvalidPem => "invalid PEM",
            KeyError::UnsupportedPemLabel => "unsupported PEM label",
            KeyError::KeyTypeMismatch => "key is not of the expected type",
            KeyError::InvalidKey => "invalid key",
            KeyError::UnsupportedKey => "unsupported key",
            KeyError::InvalidJwks => "invalid JWKS document",
        })
    }
}

impl std::error::Error for KeyError {}
