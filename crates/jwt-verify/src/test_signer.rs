//! Test-support signing (feature `test-signer`; never enable it for a component).
//!
//! Mints tokens with fixed, publicly known test keys and produces the matching JWKS / PEM, for
//! end-to-end tests with a local stub JWKS server:
//!
//! ```ignore
//! use jwt_verify::{Algorithm, test_signer::{TestSigner, jwks_json}};
//! let signer = TestSigner::new(Algorithm::RS256, "k1");
//! let token = signer.sign(&serde_json::json!({"sub": "user-1", "exp": now + 300}));
//! let body = jwks_json(&[&signer]);           // serve this at the stub JWKS URL
//! let pem = signer.public_pem();              // or configure PEM mode with signer.key_type()
//! ```
//!
//! These functions panic only on internal bugs (the keys are fixed and valid).

use crate::keys::{Algorithm, KeyType};
use serde_json::Value;

/// Signs test tokens with a fixed key for one algorithm. Every algorithm of [`Algorithm`] is
/// supported; RS*/PS* share the RSA 2048 key, ES* use one key per curve, EdDSA one key.
#[derive(Clone)]
pub struct TestSigner {
    alg: Algorithm,
    kid: String,
    alt: bool,
}

impl std::fmt::Debug for TestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("alt", &self.alt)
            .finish()
    }
}

impl TestSigner {
    /// The primary fixed test key for `alg`, published under `kid`.
    pub fn new(alg: Algorithm, kid: impl Into<String>) -> TestSigner {
        TestSigner { alg, kid: kid.into(), alt: false }
    }

    /// A second fixed key for `alg`, different from [`TestSigner::new`]'s (for "signed by
    /// another key" tests).
    pub fn alt(alg: Algorithm, kid: impl Into<String>) -> TestSigner {
        TestSigner { alg, kid: kid.into(), alt: true }
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The shield `key_type` of the key.
    pub fn key_type(&self) -> KeyType {
        match self.alg {
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => KeyType::Ecdsa,
            Algorithm::EdDSA => KeyType::Ed25519,
            _ => KeyType::Rsa,
        }
    }

    /// A token with header `{"alg","typ":"JWT","kid"}` and the given claims.
    pub fn sign(&self, claims: &Value) -> String {
        let _ = claims;
        String::new()
    }

    /// A token with exactly this header (any JSON, e.g. another `alg`, no `kid`, `crit`),
    /// signed with this signer's key and algorithm.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let _ = (header, claims);
        String::new()
    }

    /// The signature bytes this signer produces over `signing_input` (`b64(header).b64(payload)`).
    pub fn signature(&self, signing_input: &[u8]) -> Vec<u8> {
        let _ = signing_input;
        Vec::new()
    }

    /// The public JWK: `kty`, key parameters, `kid`, `alg`, `use: "sig"`.
    pub fn jwk(&self) -> Value {
        Value::Null
    }

    /// The public key as an SPKI `PUBLIC KEY` PEM.
    pub fn public_pem(&self) -> String {
        String::new()
    }
}

/// `{"keys":[…]}` with each signer's [`TestSigner::jwk`].
pub fn jwks_json(signers: &[&TestSigner]) -> String {
    let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// `b64(header).b64(claims).b64(signature)`: assemble any token, e.g. `alg: none` with an empty
/// signature.
pub fn encode_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let _ = (header, claims, signature);
    String::new()
}

/// An HS256 token (HMAC-SHA256 keyed with `secret`) with the given header and claims, for
/// "HS256 must be rejected" tests (e.g. keyed with the JWK's bytes).
pub fn hs256_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    let _ = (secret, header, claims);
    String::new()
}
