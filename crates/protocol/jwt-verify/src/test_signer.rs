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

// Test support only: it panics on its own fixed keys' impossible failures, as a test would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::keys::{Algorithm, KeyType};
use base64::Engine as _;
use serde_json::{Value, json};

const RSA_A: &str = include_str!("../tests/fixtures/rsa2048-a.key.pem");
const RSA_B: &str = include_str!("../tests/fixtures/rsa2048-b.key.pem");
// Private scalars / seeds, hex. The `a` keys match the certificates in `tests/fixtures/`.
const P256_A: &str = "7d5ffe0f33c85b66110592f93e73747e0ba3f765c1849e970efef4791620ee8b";
const P256_B: &str = "b18babba642980a8def05d30a3762fb29b3e98ddd66ab2201dd6ce455441a6a4";
const P384_A: &str = "929d83874ca338b89bc6c397e525b569dbbcf5f28d1ba26fce9d6c7d62441170931cb05ffb6683600019b3d23163dd0f";
const P384_B: &str = "f31cbd94a28b2288d658cfb1eb50fed272ba90b5e4d61db64763cbeb34dca7c3656c1907ea4d681f74a56ab941fd3407";
const P521_A: &str = "01fb8156408f617b90f8d62e09efd2cf5d60ba230df93ed5f29f661e10ed8582fb278dafe8e99ded29d900e4830e3731847eb679e393894b98b8c7cd53e52320a315";
const P521_B: &str = "01fbe3c7e85600a99588dc987cf6dbae4ea5bca605a49f6fa34598d97ca4b0285a0a69e0366b9a70d9588a274d7bbde86e43272cacdd9efc4dc79754c85a2f23516d";
const ED_A: &str = "d6354ec4bcea9dda04add98eec52f612e3b908de3ccd49139b20456a704b3fa7";
const ED_B: &str = "0835e6ef4da20dd315ac48b5d040baa274d5c52c499f3ecf179d3857e1889aea";

// Constant DER prefixes of SubjectPublicKeyInfo for each non-RSA key type.
const SPKI_P256: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
const SPKI_P384: &str = "3076301006072a8648ce3d020106052b81040022036200";
const SPKI_P521: &str = "30819b301006072a8648ce3d020106052b8104002303818600";
const SPKI_ED25519: &str = "302a300506032b6570032100";

/// Signs test tokens with a fixed key for one algorithm. Every [`Algorithm`] is supported:
/// RS*/PS* share an RSA 2048 key, ES* use one key per curve, EdDSA an Ed25519 key.
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

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("fixed hex"))
        .collect()
}

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `signer`'s scalar as a signing key of `$curve` (the `p256`, `p384` or `p521` crate).
macro_rules! ecdsa_key {
    ($signer:expr, $curve:ident) => {
        $curve::ecdsa::SigningKey::from_slice(&$signer.scalar())
            .expect(concat!(stringify!($curve), " key"))
    };
}

impl TestSigner {
    /// The primary fixed test key for `alg`, published under `kid`.
    pub fn new(alg: Algorithm, kid: impl Into<String>) -> TestSigner {
        TestSigner {
            alg,
            kid: kid.into(),
            alt: false,
        }
    }

    /// A second fixed key for `alg`, different from [`TestSigner::new`]'s (for "signed by
    /// another key" tests).
    pub fn alt(alg: Algorithm, kid: impl Into<String>) -> TestSigner {
        TestSigner {
            alg,
            kid: kid.into(),
            alt: true,
        }
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
        let header = json!({"alg": self.alg.name(), "typ": "JWT", "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// A token with exactly this header (any JSON, e.g. another `alg`, no `kid`, `crit`),
    /// signed with this signer's key and algorithm.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64u(header.to_string().as_bytes()),
            b64u(claims.to_string().as_bytes())
        );
        let sig = self.signature(input.as_bytes());
        format!("{input}.{}", b64u(&sig))
    }

    fn rsa_key(&self) -> rsa::RsaPrivateKey {
        use rsa::pkcs8::DecodePrivateKey as _;
        let text = if self.alt { RSA_B } else { RSA_A };
        let (_, der) = crate::pem::first_block(text).expect("fixture PEM");
        rsa::RsaPrivateKey::from_pkcs8_der(&der).expect("fixture RSA key")
    }

    fn scalar(&self) -> Vec<u8> {
        hex(match (self.alg, self.alt) {
            (Algorithm::ES256, false) => P256_A,
            (Algorithm::ES256, true) => P256_B,
            (Algorithm::ES384, false) => P384_A,
            (Algorithm::ES384, true) => P384_B,
            (Algorithm::ES512, false) => P521_A,
            (Algorithm::ES512, true) => P521_B,
            (_, false) => ED_A,
            (_, true) => ED_B,
        })
    }

    fn ed25519(&self) -> ed25519_dalek::SigningKey {
        let seed: [u8; 32] = self.scalar().try_into().expect("32-byte seed");
        ed25519_dalek::SigningKey::from_bytes(&seed)
    }

    /// The signature bytes this signer produces over `signing_input`
    /// (`b64(header).b64(payload)`), in JWS form (ECDSA: raw `r‖s`).
    pub fn signature(&self, signing_input: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        use sha2::{Sha256, Sha384, Sha512};
        let m = signing_input;
        // One arm per (padding, digest) or curve; the macros keep the arms to their parameters.
        macro_rules! rsa_sig {
            ($padding:ident, $digest:ty) => {
                rsa::$padding::SigningKey::<$digest>::new(self.rsa_key())
                    .sign(m)
                    .to_vec()
            };
        }
        macro_rules! ecdsa_sig {
            ($curve:ident) => {{
                let s: $curve::ecdsa::Signature = ecdsa_key!(self, $curve).sign(m);
                s.to_bytes().to_vec()
            }};
        }
        match self.alg {
            Algorithm::RS256 => rsa_sig!(pkcs1v15, Sha256),
            Algorithm::RS384 => rsa_sig!(pkcs1v15, Sha384),
            Algorithm::RS512 => rsa_sig!(pkcs1v15, Sha512),
            Algorithm::PS256 => rsa_sig!(pss, Sha256),
            Algorithm::PS384 => rsa_sig!(pss, Sha384),
            Algorithm::PS512 => rsa_sig!(pss, Sha512),
            Algorithm::ES256 => ecdsa_sig!(p256),
            Algorithm::ES384 => ecdsa_sig!(p384),
            Algorithm::ES512 => ecdsa_sig!(p521),
            Algorithm::EdDSA => self.ed25519().sign(m).to_bytes().to_vec(),
        }
    }

    /// SEC1 uncompressed point (EC) or the 32-byte key (Ed25519); `None` for RSA.
    fn public_point(&self) -> Option<Vec<u8>> {
        macro_rules! sec1_point {
            ($curve:ident) => {
                ecdsa_key!(self, $curve)
                    .verifying_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .to_vec()
            };
        }
        Some(match self.alg {
            Algorithm::ES256 => sec1_point!(p256),
            Algorithm::ES384 => sec1_point!(p384),
            Algorithm::ES512 => sec1_point!(p521),
            Algorithm::EdDSA => self.ed25519().verifying_key().to_bytes().to_vec(),
            _ => return None,
        })
    }

    /// The public JWK: `kty`, key parameters, `kid`, `alg`, `use: "sig"`.
    pub fn jwk(&self) -> Value {
        let mut jwk = match (self.alg, self.public_point()) {
            (Algorithm::EdDSA, Some(x)) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(&x)}),
            (alg, Some(point)) => {
                let crv = match alg {
                    Algorithm::ES256 => "P-256",
                    Algorithm::ES384 => "P-384",
                    _ => "P-521",
                };
                let len = (point.len() - 1) / 2;
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64u(&point[1..1 + len]),
                    "y": b64u(&point[1 + len..]),
                })
            }
            (_, None) => {
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPublicKey::from(self.rsa_key());
                json!({
                    "kty": "RSA",
                    "n": b64u(&key.n().to_be_bytes_trimmed_vartime()),
                    "e": b64u(&key.e().to_be_bytes_trimmed_vartime()),
                })
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.name());
        jwk["use"] = json!("sig");
        jwk
    }

    /// `{"keys":[jwk]}` for this signer alone.
    pub fn jwks_json(&self) -> String {
        jwks_json(&[self])
    }

    /// The public key as an SPKI `PUBLIC KEY` PEM (for shield's PEM mode, with
    /// [`TestSigner::key_type`]).
    pub fn public_pem(&self) -> String {
        let der = match (self.alg, self.public_point()) {
            (alg, Some(point)) => {
                let prefix = match alg {
                    Algorithm::ES256 => SPKI_P256,
                    Algorithm::ES384 => SPKI_P384,
                    Algorithm::ES512 => SPKI_P521,
                    _ => SPKI_ED25519,
                };
                let mut der = hex(prefix);
                der.extend_from_slice(&point);
                der
            }
            (_, None) => {
                use rsa::pkcs8::EncodePublicKey as _;
                rsa::RsaPublicKey::from(self.rsa_key())
                    .to_public_key_der()
                    .expect("RSA SPKI")
                    .as_bytes()
                    .to_vec()
            }
        };
        pem("PUBLIC KEY", &der)
    }
}

/// The fixed test signer named by its JWS `alg` ("RS256", "PS256", "ES256", "EdDSA", …), with
/// `-alt` appended for [`TestSigner::alt`]'s key, published under the `kid` "test". For callers
/// that cannot name [`Algorithm`] (the test kit's shield scenarios take [`sign_as`] and
/// [`public_pem_of`] from their runners).
pub fn by_name(name: &str) -> TestSigner {
    let (alg, alt) = match name.strip_suffix("-alt") {
        Some(alg) => (alg, true),
        None => (name, false),
    };
    let alg = Algorithm::from_name(alg).unwrap_or_else(|| panic!("no algorithm {alg}"));
    if alt {
        TestSigner::alt(alg, "test")
    } else {
        TestSigner::new(alg, "test")
    }
}

/// A token over `claims` from [`by_name`]`(name)`.
pub fn sign_as(name: &str, claims: &Value) -> String {
    by_name(name).sign(claims)
}

/// The public key PEM of [`by_name`]`(name)`.
pub fn public_pem_of(name: &str) -> String {
    by_name(name).public_pem()
}

/// `{"keys":[…]}` with each signer's [`TestSigner::jwk`].
pub fn jwks_json(signers: &[&TestSigner]) -> String {
    let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

/// `b64(header).b64(claims).b64(signature)`: assemble any token, e.g. `alg: none` with an empty
/// signature.
pub fn encode_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes()),
        b64u(signature)
    )
}

/// An HS256 token (HMAC-SHA256 keyed with `secret`) with the given header and claims, for
/// "HS256 must be rejected" tests (e.g. keyed with the JWK's bytes).
pub fn hs256_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let input = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64u(&mac.finalize().into_bytes()))
}
