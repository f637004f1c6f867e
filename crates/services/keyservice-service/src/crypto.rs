//! docs/keyservice.md, "Design: storage and sealing": tokens, digests and envelope v1 for every secret column.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envelope::{Keyring, Sealer};
use sealed_columns::keyservice;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::Env;
use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};

/// The kinds of secret data, each with its own derived key (HKDF `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Value,
    InitToken,
    Session,
    NamespaceSecret,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::Value => keyservice::VALUE_INFO,
            Purpose::InitToken => keyservice::INIT_TOKEN_INFO,
            Purpose::Session => keyservice::SESSION_INFO,
            Purpose::NamespaceSecret => keyservice::NAMESPACE_SECRET_INFO,
        }
    }
}

/// AAD strings (docs/keyservice.md, "Design: storage and sealing"), defined once with every
/// sealed column, where `keyward rewrap` finds them too.
pub use sealed_columns::keyservice::{aad_init, aad_namespace, aad_session, aad_value};

/// The AAD of a namespace's previous secret, naming its expiry (see
/// [`sealed_columns::keyservice::aad_namespace_previous`]).
pub fn aad_namespace_previous(namespace: &str, expires_at_ms: i64) -> String {
    sealed_columns::keyservice::aad_namespace_previous(namespace, &expires_at_ms.to_string())
}

/// The deployment's master keys (current and previous), loaded per request.
pub struct Keys {
    master: Keyring,
}

impl Keys {
    /// `master_key` absent or malformed → 503 `NOT_CONFIGURED` (docs/keyservice.md, "Design: error codes").
    pub fn load(env: &Env<'_>) -> ApiResult<Keys> {
        guest_kit::config::master_keys(env)
            .map(|master| Keys { master })
            .map_err(|_| {
                ApiError::not_configured(
                    "master_key is not configured or is not 32 bytes of base64",
                )
            })
    }

    fn sealer(&self, purpose: Purpose) -> ApiResult<Sealer> {
        Sealer::with_keyring(&self.master, purpose.info())
            .map_err(|_| ApiError::internal("key derivation"))
    }

    pub fn seal(&self, purpose: Purpose, plaintext: &[u8], aad: &str) -> ApiResult<String> {
        self.sealer(purpose)?
            .seal(plaintext, aad.as_bytes())
            .map_err(|_| ApiError::internal("seal"))
    }

    /// Opening failure means the row was tampered with, copied from another
    /// row, or sealed under another master key: 500, never other data.
    pub fn open(
        &self,
        purpose: Purpose,
        envelope: &str,
        aad: &str,
    ) -> ApiResult<Zeroizing<Vec<u8>>> {
        self.sealer(purpose)?
            .open(envelope, aad.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal("stored envelope failed to open"))
    }

    /// Opens an envelope holding text (tokens, secrets).
    pub fn open_text(
        &self,
        purpose: Purpose,
        envelope: &str,
        aad: &str,
    ) -> ApiResult<Zeroizing<String>> {
        let bytes = self.open(purpose, envelope, aad)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal("stored envelope is not text"))
    }
}

/// A fresh random token: 32 CSPRNG bytes, base64url without padding (43 chars).
pub fn new_token() -> ApiResult<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| ApiError::internal("random"))?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice())))
}

/// `hex(SHA-512(UTF-8(init token)))`: the pending init token's row key.
pub fn init_token_row_key(digest: &[u8; 64]) -> String {
    hex::encode(digest)
}

pub fn sha512_hex(s: &str) -> String {
    hex::encode(Sha512::digest(s.as_bytes()))
}

/// `hex(SHA-256(UTF-8(session token)))`: the session's row key.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One random byte, for probabilistic sweeping of expired rows.
pub fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    // A failing CSPRNG only means we skip (or do) one sweep.
    let _ = getrandom::fill(&mut b);
    let [byte] = b;
    byte
}
