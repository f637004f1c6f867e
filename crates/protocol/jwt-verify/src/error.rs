//! Error types. Messages are fixed strings: no key material, no token contents.

/// Why a token was rejected by [`crate::verify`].
///
/// Callers usually need three distinctions: [`Error::UnknownKid`] (refetch the JWKS once and
/// retry), [`Error::Expired`] (guardian's `ID_TOKEN_EXPIRED`), and everything else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Longer than [`crate::Validation::max_token_len`].
    #[error("token too long")]
    TooLong,
    /// Not three `.`-separated base64url parts, or a part is not valid base64url / JSON / an
    /// object. The string names the part ("header", "payload", "signature", "token").
    #[error("malformed token ({0})")]
    Malformed(&'static str),
    /// Header `alg` is missing, `none`, `HS*` or otherwise unsupported.
    #[error("unsupported or forbidden alg")]
    UnsupportedAlgorithm,
    /// Header `alg` is supported but not in [`crate::Validation::algorithms`].
    #[error("alg not allowed")]
    AlgorithmNotAllowed,
    /// Header `alg` does not suit the key (type, curve), or differs from the JWK's `alg`.
    #[error("alg does not match the key")]
    AlgorithmKeyMismatch,
    /// Header has `crit`: no extension is understood, so the token is rejected (RFC 7515 section 4.1.11).
    #[error("unsupported crit header")]
    CritUnsupported,
    /// JWKS mode with [`crate::Validation::require_kid`], and the header has no (string) `kid`.
    #[error("missing kid")]
    MissingKid,
    /// No key of the JWKS matches the header's `kid` (or, without `kid`, no key suits `alg`).
    /// The JWKS may have rotated: refetch it once, then give up.
    #[error("no key matches kid")]
    UnknownKid,
    /// No `kid`, and several keys of the JWKS suit `alg`.
    #[error("several keys match and no kid")]
    AmbiguousKey,
    /// The key is unacceptable for this validation (e.g. RSA modulus below the minimum).
    #[error("key not acceptable")]
    WeakKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// `now >= exp + leeway`.
    #[error("token expired")]
    Expired,
    /// `nbf > now + leeway`.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat > now + leeway`.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// A required claim is missing (`exp`, `iat`, `iss`, `aud`, `sub`, `azp`).
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type (e.g. `exp` not a number) or is empty (`sub`).
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
    /// `iss` differs from the expected issuer.
    #[error("unexpected issuer")]
    WrongIssuer,
    /// `aud` does not contain the expected audience, or `azp` differs from it.
    #[error("unexpected audience")]
    WrongAudience,
}

/// Why a key (PEM, JWK or JWKS document) could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PEM, or the base64/DER inside is invalid.
    #[error("invalid PEM")]
    InvalidPem,
    /// A PEM label other than `PUBLIC KEY`, `CERTIFICATE` or `RSA PUBLIC KEY` (the latter only
    /// for [`crate::KeyType::Rsa`]).
    #[error("unsupported PEM label")]
    UnsupportedPemLabel,
    /// The key inside is not of the requested [`crate::KeyType`], or its algorithm/curve is
    /// unsupported (supported: RSA, EC P-256/P-384/P-521, Ed25519).
    #[error("key is not of the expected type")]
    KeyTypeMismatch,
    /// Key parameters are invalid (bad point, bad modulus/exponent, wrong length).
    #[error("invalid key")]
    InvalidKey,
    /// Unsupported JWK: `kty`/`crv` not handled, `use` other than `sig`, or unknown `alg`.
    #[error("unsupported key")]
    UnsupportedKey,
    /// The JWKS document is not JSON or has no `keys` array.
    #[error("invalid JWKS document")]
    InvalidJwks,
}
