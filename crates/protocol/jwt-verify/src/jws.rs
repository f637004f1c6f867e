//! Compact JWS parsing and verification.

use crate::Validation;
use crate::b64::b64url;
use crate::error::Error;
use crate::keys::{Algorithm, Jwk, Jwks, KeyInner, KeyKind, PublicKey};
use serde_json::{Map, Value};
use sha2::Digest as _;

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
    /// SHA-256 of the signing input (`b64(header).b64(payload)`, the token without its
    /// signature). Use it, rather than a hash of the whole token, as a replay/single-use key:
    /// ECDSA signatures are malleable (`s` ↔ `n − s`), so one signed token has several valid
    /// spellings, but only one signing input.
    pub signing_input_sha256: [u8; 32],
}

/// Verifies a compact JWS token and its claims at time `now` (unix seconds).
///
/// Order: length, structure (three base64url parts; unpadded, padding tolerated), header (JSON
/// object, `alg` supported and allowed, no `crit`), key selection, signature, claims
/// (`exp`, `nbf`, `iat`, `iss`, `aud`/`azp`, `sub`). The first failure is returned.
pub fn verify(
    token: &str,
    keys: Keys<'_>,
    validation: &Validation,
    now: u64,
) -> Result<Verified, Error> {
    if token.len() > validation.max_token_len {
        return Err(Error::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Malformed("token"));
    };
    let header_bytes = b64url(h64).ok_or(Error::Malformed("header"))?;
    let header_obj = json_object(&header_bytes).ok_or(Error::Malformed("header"))?;
    let header = parse_header(&header_obj)?;
    if let Some(allowed) = &validation.algorithms
        && !allowed.contains(&header.alg)
    {
        return Err(Error::AlgorithmNotAllowed);
    }
    let payload_bytes = b64url(p64).ok_or(Error::Malformed("payload"))?;
    let signature = b64url(s64).ok_or(Error::Malformed("signature"))?;

    let key = select_key(keys, &header, validation)?;
    if let KeyKind::Rsa { bits } = key.kind()
        && bits < validation.min_rsa_bits
    {
        return Err(Error::WeakKey);
    }
    // `h64.p64` is a prefix of `token`; both lengths are char boundaries ('.' is ASCII).
    let signing_input = token
        .as_bytes()
        .get(..h64.len() + 1 + p64.len())
        .ok_or(Error::Malformed("token"))?;
    verify_signature(key, header.alg, signing_input, &signature)?;

    let claims = json_object(&payload_bytes).ok_or(Error::Malformed("payload"))?;
    let sub = crate::claims::check(&claims, validation, now)?;
    Ok(Verified {
        header,
        sub,
        claims,
        signing_input_sha256: sha2::Sha256::digest(signing_input).into(),
    })
}

fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn parse_header(h: &Map<String, Value>) -> Result<Header, Error> {
    let alg = h
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .ok_or(Error::UnsupportedAlgorithm)?;
    if h.contains_key("crit") {
        return Err(Error::CritUnsupported);
    }
    let opt_str = |name: &'static str| -> Result<Option<String>, Error> {
        match h.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::Malformed("header")),
        }
    };
    Ok(Header {
        alg,
        kid: opt_str("kid")?,
        typ: opt_str("typ")?,
    })
}

/// Picks the key for `header` and checks that `alg` suits it (and equals the JWK's `alg`).
fn select_key<'a>(
    keys: Keys<'a>,
    header: &Header,
    validation: &Validation,
) -> Result<&'a PublicKey, Error> {
    let alg = header.alg;
    let compatible = |jwk: &Jwk| jwk.key.suits(alg) && jwk.alg.is_none_or(|a| a == alg);
    match keys {
        Keys::Key(key) => {
            if key.suits(alg) {
                Ok(key)
            } else {
                Err(Error::AlgorithmKeyMismatch)
            }
        }
        Keys::Jwks(jwks) => match &header.kid {
            Some(kid) => {
                let mut named = jwks
                    .keys()
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .peekable();
                if named.peek().is_none() {
                    return Err(Error::UnknownKid);
                }
                named
                    .find(|k| compatible(k))
                    .map(|k| &k.key)
                    .ok_or(Error::AlgorithmKeyMismatch)
            }
            None if validation.require_kid => Err(Error::MissingKid),
            None => {
                let mut candidates = jwks.keys().iter().filter(|k| compatible(k));
                match (candidates.next(), candidates.next()) {
                    (Some(k), None) => Ok(&k.key),
                    (None, _) => Err(Error::UnknownKid),
                    (Some(_), Some(_)) => Err(Error::AmbiguousKey),
                }
            }
        },
    }
}

fn verify_signature(key: &PublicKey, alg: Algorithm, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    use rsa::signature::Verifier as _;
    let bad = |_| Error::InvalidSignature;
    match (&key.inner, alg) {
        (KeyInner::Rsa(k), _) => {
            use rsa::traits::PublicKeyParts as _;
            if sig.len() != k.size() {
                return Err(Error::InvalidSignature);
            }
            let k = k.as_ref().clone();
            let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(bad)?;
            let p = rsa::pss::Signature::try_from(sig).map_err(bad)?;
            match alg {
                Algorithm::RS256 => {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(k).verify(msg, &s)
                }
                Algorithm::RS384 => {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(k).verify(msg, &s)
                }
                Algorithm::RS512 => {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(k).verify(msg, &s)
                }
                Algorithm::PS256 => rsa::pss::VerifyingKey::<sha2::Sha256>::new(k).verify(msg, &p),
                Algorithm::PS384 => rsa::pss::VerifyingKey::<sha2::Sha384>::new(k).verify(msg, &p),
                Algorithm::PS512 => rsa::pss::VerifyingKey::<sha2::Sha512>::new(k).verify(msg, &p),
                _ => return Err(Error::AlgorithmKeyMismatch),
            }
            .map_err(bad)
        }
        (KeyInner::P256(k), Algorithm::ES256) => {
            let s = p256::ecdsa::Signature::from_slice(sig).map_err(bad)?;
            k.verify(msg, &s).map_err(bad)
        }
        (KeyInner::P384(k), Algorithm::ES384) => {
            let s = p384::ecdsa::Signature::from_slice(sig).map_err(bad)?;
            k.verify(msg, &s).map_err(bad)
        }
        (KeyInner::P521(k), Algorithm::ES512) => {
            let s = p521::ecdsa::Signature::from_slice(sig).map_err(bad)?;
            k.verify(msg, &s).map_err(bad)
        }
        (KeyInner::Ed25519(k), Algorithm::EdDSA) => {
            let s = ed25519_dalek::Signature::from_slice(sig).map_err(bad)?;
            k.verify_strict(msg, &s).map_err(bad)
        }
        _ => Err(Error::AlgorithmKeyMismatch),
    }
}

/// Whether `token` looks like a JWT: three `.`-separated non-empty base64url parts, padding
/// optional (docs/shield.md, "Design: identity providers" step 2). No decoding beyond the alphabet check.
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
