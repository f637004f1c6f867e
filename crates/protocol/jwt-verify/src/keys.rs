//! Public keys: algorithms, PEM and JWK/JWKS parsing.

use crate::error::KeyError;

/// A JWS signature algorithm this crate verifies (RFC 7518 section 3, RFC 8037).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, salt length 32).
    PS256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, salt length 48).
    PS384,
    /// RSASSA-PSS with SHA-512 (MGF1 SHA-512, salt length 64).
    PS512,
    /// ECDSA P-256 with SHA-256, raw `r‖s` (64 bytes).
    ES256,
    /// ECDSA P-384 with SHA-384, raw `r‖s` (96 bytes).
    ES384,
    /// ECDSA P-521 with SHA-512, raw `r‖s` (132 bytes).
    ES512,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// Parses a JOSE `alg` name (case-sensitive). `none`, `HS*` and unknown names → `None`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether a key of this kind can verify this algorithm.
    pub fn suits(self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512,
                KeyKind::Rsa { .. }
            ) | (Algorithm::ES256, KeyKind::Ec(Curve::P256))
                | (Algorithm::ES384, KeyKind::Ec(Curve::P384))
                | (Algorithm::ES512, KeyKind::Ec(Curve::P521))
                | (Algorithm::EdDSA, KeyKind::Ed25519)
        )
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `key_type` of a shield CUSTOM provider's PEM (docs/shield.md, "Design: identity providers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA: RS256/384/512, PS256/384/512.
    Rsa,
    /// ECDSA on P-256/P-384/P-521: ES256/384/512.
    Ecdsa,
    /// Ed25519: EdDSA.
    Ed25519,
}

impl KeyType {
    /// Parses `rsa`, `ecdsa` or `ed25519` (exactly, lowercase).
    pub fn from_name(name: &str) -> Option<KeyType> {
        match name {
            "rsa" => Some(KeyType::Rsa),
            "ecdsa" => Some(KeyType::Ecdsa),
            "ed25519" => Some(KeyType::Ed25519),
            _ => None,
        }
    }

    /// `rsa`, `ecdsa` or `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ecdsa => "ecdsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// An elliptic curve for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (`crv` `P-256`).
    P256,
    /// NIST P-384 (`crv` `P-384`).
    P384,
    /// NIST P-521 (`crv` `P-521`).
    P521,
}

/// What a [`PublicKey`] is, without its material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on a curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The [`KeyType`] family of this key.
    pub fn key_type(self) -> KeyType {
        match self {
            KeyKind::Rsa { .. } => KeyType::Rsa,
            KeyKind::Ec(_) => KeyType::Ecdsa,
            KeyKind::Ed25519 => KeyType::Ed25519,
        }
    }
}

#[derive(Clone)]
pub(crate) enum KeyInner {
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(Box<p521::ecdsa::VerifyingKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A parsed public key able to verify signatures. `Debug` shows only its [`KeyKind`].
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) inner: KeyInner,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind())
            .finish()
    }
}

impl PublicKey {
    /// Parses one JWK (a JSON object) into a key, ignoring `kid`/`alg`/`use` (see
    /// [`Jwk::from_json`] for those). Supported: `RSA` (`n`, `e`), `EC` (`crv` P-256/P-384/P-521,
    /// `x`, `y`), `OKP` (`crv` Ed25519, `x`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<PublicKey, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::UnsupportedKey)?;
        let field = |name: &str| -> Result<Vec<u8>, KeyError> {
            let s = obj
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or(KeyError::InvalidKey)?;
            crate::b64::b64url(s).ok_or(KeyError::InvalidKey)
        };
        let crv = obj.get("crv").and_then(|v| v.as_str());
        match obj.get("kty").and_then(|v| v.as_str()) {
            Some("RSA") => {
                let n = field("n")?;
                let e = field("e")?;
                rsa_from_parts(&n, &e)
            }
            Some("EC") => {
                let (curve, len) = match crv {
                    Some("P-256") => (Curve::P256, 32),
                    Some("P-384") => (Curve::P384, 48),
                    Some("P-521") => (Curve::P521, 66),
                    _ => return Err(KeyError::UnsupportedKey),
                };
                let x = field("x")?;
                let y = field("y")?;
                if x.len() != len || y.len() != len {
                    return Err(KeyError::InvalidKey);
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ec_from_sec1(curve, &point)
            }
            Some("OKP") => {
                if crv != Some("Ed25519") {
                    return Err(KeyError::UnsupportedKey);
                }
                ed25519_from_bytes(&field("x")?)
            }
            _ => Err(KeyError::UnsupportedKey),
        }
    }

    /// What the key is.
    pub fn kind(&self) -> KeyKind {
        match &self.inner {
            KeyInner::Rsa(k) => KeyKind::Rsa { bits: rsa_bits(k) },
            KeyInner::P256(_) => KeyKind::Ec(Curve::P256),
            KeyInner::P384(_) => KeyKind::Ec(Curve::P384),
            KeyInner::P521(_) => KeyKind::Ec(Curve::P521),
            KeyInner::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// Whether this key can verify `alg`.
    pub fn suits(&self, alg: Algorithm) -> bool {
        alg.suits(self.kind())
    }
}

/// RSA from big-endian modulus and exponent (leading zeros allowed). Accepts 1024..=8192 bits;
/// [`crate::Validation::min_rsa_bits`] raises the floor at verification.
pub(crate) fn rsa_from_parts(n: &[u8], e: &[u8]) -> Result<PublicKey, KeyError> {
    let strip = |b: &[u8]| -> Vec<u8> {
        let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
        b.get(first..).unwrap_or_default().to_vec()
    };
    let (n, e) = (strip(n), strip(e));
    // The exponent is small in practice (65537); cap it to keep verification cheap.
    if n.is_empty() || e.is_empty() || e.len() > 8 || n.len() > 1024 {
        return Err(KeyError::InvalidKey);
    }
    let n = rsa::BoxedUint::from_be_slice_vartime(&n);
    let e = rsa::BoxedUint::from_be_slice_vartime(&e);
    let key = rsa::RsaPublicKey::new(n, e).map_err(|_| KeyError::InvalidKey)?;
    Ok(PublicKey {
        inner: KeyInner::Rsa(Box::new(key)),
    })
}

/// ECDSA from a SEC1 point (uncompressed or compressed) on `curve`.
pub(crate) fn ec_from_sec1(curve: Curve, point: &[u8]) -> Result<PublicKey, KeyError> {
    let inner = match curve {
        Curve::P256 => KeyInner::P256(
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError::InvalidKey)?,
        ),
        Curve::P384 => KeyInner::P384(
            p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError::InvalidKey)?,
        ),
        Curve::P521 => KeyInner::P521(Box::new(
            p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError::InvalidKey)?,
        )),
    };
    Ok(PublicKey { inner })
}

/// Ed25519 from its 32-byte public key.
pub(crate) fn ed25519_from_bytes(x: &[u8]) -> Result<PublicKey, KeyError> {
    let bytes: &[u8; 32] = x.try_into().map_err(|_| KeyError::InvalidKey)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidKey)?;
    Ok(PublicKey {
        inner: KeyInner::Ed25519(key),
    })
}

fn rsa_bits(k: &rsa::RsaPublicKey) -> usize {
    use rsa::traits::PublicKeyParts;
    k.n().bits_vartime() as usize
}

/// One key of a JWKS, with its metadata.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid`, if a string.
    pub kid: Option<String>,
    /// `alg`, if set (a set but unsupported `alg` makes the JWK unsupported).
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: PublicKey,
}

impl Jwk {
    /// Parses one JWK object. Errors for unsupported `kty`/`crv`/`alg`, `use` other than
    /// `sig`, or invalid parameters.
    pub fn from_json(jwk: &serde_json::Value) -> Result<Jwk, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::UnsupportedKey)?;
        match obj.get("use") {
            None => {}
            Some(u) if u.as_str() == Some("sig") => {}
            Some(_) => return Err(KeyError::UnsupportedKey),
        }
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops.as_array().ok_or(KeyError::UnsupportedKey)?;
            if !ops.iter().any(|o| o.as_str() == Some("verify")) {
                return Err(KeyError::UnsupportedKey);
            }
        }
        let alg = match obj.get("alg") {
            None => None,
            Some(a) => Some(
                a.as_str()
                    .and_then(Algorithm::from_name)
                    .ok_or(KeyError::UnsupportedKey)?,
            ),
        };
        let kid = match obj.get("kid") {
            None => None,
            Some(k) => Some(k.as_str().ok_or(KeyError::InvalidKey)?.to_owned()),
        };
        let key = PublicKey::from_jwk(jwk)?;
        if let Some(alg) = alg
            && !key.suits(alg)
        {
            return Err(KeyError::KeyTypeMismatch);
        }
        Ok(Jwk { kid, alg, key })
    }
}

/// A parsed JWKS document (RFC 7517 section 5).
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl Jwks {
    /// Parses a JWKS document `{"keys":[…]}`. Keys that are unsupported or invalid (e.g. `oct`,
    /// `use: enc`, unknown curve, bad parameters) are skipped, as identity providers publish
    /// such keys alongside signing keys; only a document that is not a JSON object with a
    /// `keys` array is an error. An empty result is not an error: verification then fails with
    /// [`crate::Error::UnknownKid`].
    pub fn parse(json: &[u8]) -> Result<Jwks, KeyError> {
        let doc: serde_json::Value =
            serde_json::from_slice(json).map_err(|_| KeyError::InvalidJwks)?;
        let keys = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or(KeyError::InvalidJwks)?;
        Ok(Jwks {
            keys: keys.iter().filter_map(|k| Jwk::from_json(k).ok()).collect(),
        })
    }

    /// Builds a set from already parsed keys.
    pub fn from_keys(keys: Vec<Jwk>) -> Jwks {
        Jwks { keys }
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The first key whose `kid` equals `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}
