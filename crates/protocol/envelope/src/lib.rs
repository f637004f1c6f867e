//! Envelope v1: secrets at rest (docs/platform.md, "Design: sealing at rest").
//!
//! ```text
//! envelope = base64std( 0x01 ‖ nonce(12, random) ‖ AES-256-GCM ciphertext ‖ tag(16) )
//! key      = HKDF-SHA256(ikm = master_key, salt = none, info, L = 32)
//! ```
//!
//! The crate is deliberately generic: each service passes its own `info` (one derived key per kind
//! of data) and an AAD naming the row the ciphertext belongs to, so a ciphertext copied into
//! another row fails to open instead of revealing another user's data.
//!
//! ```
//! use envelope::{MasterKey, Sealer};
//!
//! let master = MasterKey::parse("m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=")?;
//! let sealer = Sealer::new(&master, b"keyward/keyservice/value/v1")?;
//! let ct = sealer.seal(b"key bytes", b"keyservice|my_cool_website|347")?;
//! assert_eq!(sealer.open(&ct, b"keyservice|my_cool_website|347")?, b"key bytes");
//! assert!(sealer.open(&ct, b"keyservice|my_cool_website|348").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

use core::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_NO_PAD_INDIFFERENT, URL_SAFE_NO_PAD_INDIFFERENT,
};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Version byte of envelope v1.
pub const VERSION: u8 = 0x01;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Master and derived key length.
pub const KEY_LEN: usize = 32;
/// Smallest possible envelope (empty plaintext), in decoded bytes.
const MIN_ENVELOPE_LEN: usize = 1 + NONCE_LEN + TAG_LEN;

/// The deployment's `master_key`: 32 bytes, wiped from memory on drop. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// Parses the `master_key` variable: 32 bytes as base64, standard or URL-safe alphabet,
    /// padding optional. Anything else (other lengths, mixed alphabets, whitespace, non-canonical
    /// trailing bits) is an error; callers answer 503 `NOT_CONFIGURED`.
    pub fn parse(s: &str) -> Result<Self, MasterKeyError> {
        // Bounded before decoding: 32 bytes are at most 44 characters.
        if s.is_empty() || s.len() > 44 {
            return Err(MasterKeyError);
        }
        // Each engine accepts exactly one alphabet, so a string mixing '+' with '_' matches
        // neither. Padding, when present, must still be canonical.
        let mut buf = Zeroizing::new([0u8; KEY_LEN + 3]);
        for engine in [&STANDARD_NO_PAD_INDIFFERENT, &URL_SAFE_NO_PAD_INDIFFERENT] {
            if let Ok(n) = engine.decode_slice(s, buf.as_mut_slice()) {
                if n != KEY_LEN {
                    return Err(MasterKeyError);
                }
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                for (dst, src) in key.iter_mut().zip(buf.iter()) {
                    *dst = *src;
                }
                return Ok(MasterKey(key));
            }
        }
        Err(MasterKeyError)
    }

    /// Wraps raw key bytes (e.g. from a test or another secret store).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        MasterKey(Zeroizing::new(bytes))
    }

    /// The key HKDF-SHA256 derives for `info`, for uses other than sealing (the audit chain's MAC
    /// key). Each use names its own `info`, so no two uses share a key.
    pub fn derive(&self, info: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, EnvelopeError> {
        derive_key(self, info)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// `master_key` is absent from the string or not 32 bytes of base64. Carries no detail, so the
/// key (or part of it) can never reach a log through this error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("master_key must be 32 bytes encoded as base64")]
pub struct MasterKeyError;

/// Why sealing or opening failed. Deliberately coarse: a caller answers 500 `INTERNAL` for all of
/// them and must not tell a client which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not base64, too short, or an unknown version byte.
    #[error("envelope is malformed")]
    Malformed,
    /// Authentication failed: wrong key, wrong AAD, or tampered data.
    #[error("envelope failed authentication")]
    Decrypt,
    /// The plaintext exceeds AES-GCM's limit.
    #[error("plaintext too large to seal")]
    TooLarge,
    /// The system CSPRNG failed, so no nonce could be drawn.
    #[error("the system random number generator failed")]
    Random,
    /// Key derivation failed (not expected for a 32-byte output).
    #[error("key derivation failed")]
    KeyDerivation,
}

/// Seals and opens envelopes under the key derived from a master key and an `info` string.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

/// HKDF-SHA256(ikm = master key, salt = none, info, L = 32).
fn derive_key(master: &MasterKey, info: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, EnvelopeError> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(None, master.0.as_slice())
        .expand(info, okm.as_mut_slice())
        .map_err(|_| EnvelopeError::KeyDerivation)?;
    Ok(okm)
}

impl Sealer {
    /// A sealer for one kind of data, e.g. `info = b"keyward/keyservice/value/v1"`.
    pub fn new(master: &MasterKey, info: &[u8]) -> Result<Self, EnvelopeError> {
        let key = derive_key(master, info)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| EnvelopeError::KeyDerivation)?;
        Ok(Sealer { cipher })
    }

    /// Encrypts `plaintext` bound to `aad` (the row identity) under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, EnvelopeError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| EnvelopeError::Random)?;
        self.seal_with_nonce(plaintext, aad, &nonce)
    }

    /// [`Sealer::seal`] with a caller-chosen nonce, for test vectors only. Reusing a nonce under
    /// the same key breaks AES-GCM's confidentiality and integrity: production code uses `seal`.
    pub fn seal_with_nonce(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<String, EnvelopeError> {
        let ct = self
            .cipher
            .encrypt(
                &Nonce::<Aes256Gcm>::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| EnvelopeError::TooLarge)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts an envelope made for `aad`. Any malformed input or authentication failure is an
    /// error, never a panic.
    pub fn open(&self, envelope: &str, aad: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        // Strict padded standard base64: the one form `seal` writes.
        let raw = STANDARD
            .decode(envelope)
            .map_err(|_| EnvelopeError::Malformed)?;
        if raw.len() < MIN_ENVELOPE_LEN {
            return Err(EnvelopeError::Malformed);
        }
        let (version, rest) = raw.split_first().ok_or(EnvelopeError::Malformed)?;
        if *version != VERSION {
            return Err(EnvelopeError::Malformed);
        }
        let (nonce, ct) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(EnvelopeError::Malformed)?;
        self.cipher
            .decrypt(&Nonce::<Aes256Gcm>::from(*nonce), Payload { msg: ct, aad })
            .map_err(|_| EnvelopeError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_key_vector() {
        let m = MasterKey::parse("m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=").unwrap();
        let k = derive_key(&m, b"keyward/keyservice/value/v1").unwrap();
        assert_eq!(
            hex::encode(k.as_slice()),
            "83514e6ec3dc169dd27d0772047cc80019c791c9b4cd8ae6c55695a1cdb6c91e"
        );
        // A different info gives an unrelated key.
        let k2 = derive_key(&m, b"keyward/keyservice/init-token/v1").unwrap();
        assert_ne!(k.as_slice(), k2.as_slice());
    }

    #[test]
    fn debug_is_redacted() {
        let m = MasterKey::from_bytes([0x41; 32]);
        assert_eq!(format!("{m:?}"), "MasterKey(<redacted>)");
        let s = Sealer::new(&m, b"x").unwrap();
        assert_eq!(format!("{s:?}"), "Sealer(<redacted>)");
    }
}
