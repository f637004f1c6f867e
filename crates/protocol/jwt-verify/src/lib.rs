//! JWT (compact JWS) verification for keyward's services, in pure Rust, with no network access.
//!
//! * Keys come from a JWKS document ([`Jwks::parse`]) or a PEM public key
//!   ([`PublicKey::from_pem`]: `PUBLIC KEY`, `CERTIFICATE`, and for RSA `RSA PUBLIC KEY`).
//!   Fetching and caching a JWKS is the caller's job (Spin outbound HTTP in the components).
//! * Algorithms: RS256/384/512, PS256/384/512, ES256/384/512 (raw `r‖s` signatures), EdDSA
//!   (Ed25519). `none`, `HS*` and anything else are always rejected.
//! * Claims are checked against an injected clock (unix seconds) with [`Validation`]:
//!   `exp`/`nbf`/`iat` with a leeway, optional `iss`/`aud` expectations, non-empty `sub`.
//!
//! ```no_run
//! use jwt_verify::{verify, Jwks, Keys, Validation, Error};
//! # fn fetch(_: &str) -> Vec<u8> { Vec::new() }
//! # let token = ""; let now = 0;
//! let jwks = Jwks::parse(&fetch("https://idp.example/jwks.json"))?;
//! match verify(token, Keys::Jwks(&jwks), &Validation::default(), now) {
//!     Ok(v) => println!("user {}", v.sub),
//!     Err(Error::UnknownKid) => { /* refetch the JWKS once, then verify again */ }
//!     Err(e) => println!("rejected: {e}"),
//! }
//! # Ok::<(), jwt_verify::KeyError>(())
//! ```
//!
//! Nothing here panics on any input, and no error carries key material or token contents.

mod b64;
mod claims;
mod error;
mod jws;
mod keys;
mod pem;

#[cfg(feature = "test-signer")]
pub mod test_signer;

pub use error::{Error, KeyError};
pub use jws::{Header, Keys, Verified, looks_like_jwt, verify};
pub use keys::{Algorithm, Curve, Jwk, Jwks, KeyKind, KeyType, PublicKey};

/// What [`verify`] checks beyond the signature. [`Validation::default`] is shield's rule set
/// (docs/shield.md, "Design: identity providers"); [`Validation::oidc_id_token`] is guardian's (docs/guardian.md, "OpenID Connect").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Header `alg` values accepted (on top of "must suit the key"). `None`: every supported
    /// algorithm. `none`/`HS*` are rejected regardless.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Seconds of clock skew tolerated for `exp`, `nbf` and `iat`: valid while
    /// `now < exp + leeway`, from `nbf <= now + leeway`, and `iat <= now + leeway`.
    pub leeway: u64,
    /// `exp` must be present (it is always checked when present).
    pub require_exp: bool,
    /// How `iat` is treated.
    pub iat: IatCheck,
    /// `iss` must equal this exactly.
    pub issuer: Option<String>,
    /// `aud` (a string, or an array of strings) must be or contain this.
    pub audience: Option<String>,
    /// With [`Validation::audience`] set and `aud` an array of more than one entry, `azp` must
    /// equal the audience (OpenID Connect Core section 3.1.3.7).
    pub azp_for_multiple_audiences: bool,
    /// JWKS mode: the header must carry a `kid` naming a key of the set. When `false`, a token
    /// without `kid` is verified with the sole key of the set that suits its `alg`.
    pub require_kid: bool,
    /// Smallest RSA modulus accepted, in bits (keys above 8192 bits are never accepted).
    pub min_rsa_bits: usize,
    /// Longest token accepted, in bytes.
    pub max_token_len: usize,
}

/// How [`verify`] treats the `iat` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IatCheck {
    /// Not looked at.
    Ignore,
    /// When present, must be a number `<= now + leeway`.
    NotInFuture,
    /// Must be present and a number `<= now + leeway`.
    Required,
}

impl Default for Validation {
    /// docs/shield.md, "Design: identity providers": any supported asymmetric `alg`; `exp`/`nbf` checked when present with no
    /// leeway; `iat`, `iss`, `aud` ignored; JWKS mode needs a matching `kid`; RSA ≥ 2048 bits;
    /// tokens ≤ 16 KiB.
    fn default() -> Self {
        Validation {
            algorithms: None,
            leeway: 0,
            require_exp: false,
            iat: IatCheck::Ignore,
            issuer: None,
            audience: None,
            azp_for_multiple_audiences: false,
            require_kid: true,
            min_rsa_bits: 2048,
            max_token_len: 16 * 1024,
        }
    }
}

impl Validation {
    /// docs/guardian.md, "OpenID Connect" (OpenID Connect `id_token`): `alg` RS256 or ES256; `iss` == `issuer`;
    /// `aud` is or contains `audience` (and `azp` == `audience` when `aud` has several entries);
    /// `exp` required, `iat` required, 60 s leeway; JWKS key by `kid`, else the sole suitable
    /// key; RSA ≥ 2048 bits; tokens ≤ 16 KiB.
    pub fn oidc_id_token(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            algorithms: Some(vec![Algorithm::RS256, Algorithm::ES256]),
            leeway: 60,
            require_exp: true,
            iat: IatCheck::Required,
            issuer: Some(issuer.into()),
            audience: Some(audience.into()),
            azp_for_multiple_audiences: true,
            require_kid: false,
            min_rsa_bits: 2048,
            max_token_len: 16 * 1024,
        }
    }
}
