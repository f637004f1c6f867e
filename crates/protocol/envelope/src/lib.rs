//! Envelopes: secrets at rest (docs/platform.md, "Design: sealing at rest").
//!
//! ```text
//! v2       = base64std( 0x02 ‖ key id(4) ‖ nonce(12, random) ‖ AES-256-GCM ciphertext ‖ tag(16) )
//! v1       = base64std( 0x01 ‖ nonce(12, random) ‖ AES-256-GCM ciphertext ‖ tag(16) )
//! key      = HKDF-SHA256(ikm = master_key, salt = none, info, L = 32)
//! key id   = HKDF-SHA256(ikm = master_key, salt = none, "keyward/master-key/id", L = 4)
//! ```
//!
//! `seal` writes v2: the key id names the master key that sealed the value, so after a rotation
//! ([`Keyring`]: the current key and the previous ones) each value opens under its own key and
//! a re-wrap can tell what is still sealed under an old one. v1 (the format before rotation
//! existed, and the specification's vector) still opens: under each key of the ring in turn.
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

/// Version byte of envelope v1 (no key id).
pub const VERSION_1: u8 = 0x01;
/// Version byte of envelope v2 (with the sealing master key's id).
pub const VERSION_2: u8 = 0x02;
/// Length of a master key's id in a v2 envelope.
pub const KEY_ID_LEN: usize = 4;
const KEY_ID_INFO: &[u8] = b"keyward/master-key/id";
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Master and derived key length.
pub const KEY_LEN: usize = 32;

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

    /// The key's id, as v2 envelopes name it: not secret, and not enough to guess the key.
    pub fn id(&self) -> Result<[u8; KEY_ID_LEN], EnvelopeError> {
        let okm = derive_key(self, KEY_ID_INFO)?;
        let mut id = [0u8; KEY_ID_LEN];
        for (dst, src) in id.iter_mut().zip(okm.iter()) {
            *dst = *src;
        }
        Ok(id)
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

/// The deployment's master keys: the current one, which seals, and the previous ones, which
/// still open what they sealed until a re-wrap has moved it to the current key.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// Parses `master_key` and `master_key_previous` (comma-separated; empty: none).
    pub fn parse(current: &str, previous: &str) -> Result<Self, MasterKeyError> {
        let previous = previous
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(MasterKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(MasterKey::parse(current.trim())?, previous))
    }

    /// The key that seals.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }
}

impl From<MasterKey> for Keyring {
    fn from(current: MasterKey) -> Self {
        Self::new(current, Vec::new())
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
    /// A v2 envelope names a master key that is not in the keyring (removed too early, or the
    /// wrong deployment's data).
    #[error("sealed under a master key that is not configured")]
    UnknownKey,
}

/// Seals and opens envelopes under the keys derived from a keyring and an `info` string.
#[derive(Clone)]
pub struct Sealer {
    /// Per master key, its id and its cipher; the current key first.
    ciphers: Vec<([u8; KEY_ID_LEN], Aes256Gcm)>,
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
    /// A sealer for one kind of data, e.g. `info = b"keyward/keyservice/value/v1"`, under one
    /// master key.
    pub fn new(master: &MasterKey, info: &[u8]) -> Result<Self, EnvelopeError> {
        Self::with_keyring(&Keyring::from(master.clone()), info)
    }

    /// A sealer that seals under the ring's current key and opens under any of its keys.
    pub fn with_keyring(keys: &Keyring, info: &[u8]) -> Result<Self, EnvelopeError> {
        let ciphers = keys
            .keys()
            .map(|master| {
                let key = derive_key(master, info)?;
                let cipher = Aes256Gcm::new_from_slice(key.as_slice())
                    .map_err(|_| EnvelopeError::KeyDerivation)?;
                Ok((master.id()?, cipher))
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        Ok(Sealer { ciphers })
    }

    fn current(&self) -> Result<&([u8; KEY_ID_LEN], Aes256Gcm), EnvelopeError> {
        self.ciphers.first().ok_or(EnvelopeError::KeyDerivation)
    }

    /// Encrypts `plaintext` bound to `aad` (the row identity) under the current key and a fresh
    /// random nonce, as a v2 envelope.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, EnvelopeError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| EnvelopeError::Random)?;
        let (id, cipher) = self.current()?;
        let ct = encrypt(cipher, plaintext, aad, &nonce)?;
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ct.len());
        out.push(VERSION_2);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    /// A v1 envelope under the current key with a caller-chosen nonce, for the specification's
    /// vector only. Reusing a nonce under the same key breaks AES-GCM's confidentiality and
    /// integrity: production code uses `seal`.
    pub fn seal_v1_with_nonce(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<String, EnvelopeError> {
        let (_, cipher) = self.current()?;
        let ct = encrypt(cipher, plaintext, aad, nonce)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION_1);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts an envelope made for `aad`: a v2 one under the key it names, a v1 one under each
    /// key in turn. Any malformed input or authentication failure is an error, never a panic.
    pub fn open(&self, envelope: &str, aad: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        // Strict padded standard base64: the one form `seal` writes.
        let raw = STANDARD
            .decode(envelope)
            .map_err(|_| EnvelopeError::Malformed)?;
        match parse(&raw)? {
            Parsed::V1 { nonce, ct } => self
                .ciphers
                .iter()
                .find_map(|(_, cipher)| decrypt(cipher, nonce, ct, aad).ok())
                .ok_or(EnvelopeError::Decrypt),
            Parsed::V2 { id, nonce, ct } => {
                let mut named = self.ciphers.iter().filter(|(k, _)| k == id).peekable();
                if named.peek().is_none() {
                    return Err(EnvelopeError::UnknownKey);
                }
                named
                    .find_map(|(_, cipher)| decrypt(cipher, nonce, ct, aad).ok())
                    .ok_or(EnvelopeError::Decrypt)
            }
        }
    }

    /// Whether `envelope` is a v2 envelope under the current key: one a re-wrap leaves alone.
    /// Anything else (v1, a previous key, malformed) is `false`.
    pub fn is_current(&self, envelope: &str) -> bool {
        let Ok(raw) = STANDARD.decode(envelope) else {
            return false;
        };
        match (parse(&raw), self.current()) {
            (Ok(Parsed::V2 { id, .. }), Ok((current, _))) => id == current,
            _ => false,
        }
    }
}

enum Parsed<'a> {
    V1 {
        nonce: &'a [u8; NONCE_LEN],
        ct: &'a [u8],
    },
    V2 {
        id: &'a [u8; KEY_ID_LEN],
        nonce: &'a [u8; NONCE_LEN],
        ct: &'a [u8],
    },
}

fn parse(raw: &[u8]) -> Result<Parsed<'_>, EnvelopeError> {
    let (version, rest) = raw.split_first().ok_or(EnvelopeError::Malformed)?;
    let (id, rest) = match *version {
        VERSION_1 => (None, rest),
        VERSION_2 => {
            let (id, rest) = rest
                .split_first_chunk::<KEY_ID_LEN>()
                .ok_or(EnvelopeError::Malformed)?;
            (Some(id), rest)
        }
        _ => return Err(EnvelopeError::Malformed),
    };
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let (nonce, ct) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(EnvelopeError::Malformed)?;
    Ok(match id {
        None => Parsed::V1 { nonce, ct },
        Some(id) => Parsed::V2 { id, nonce, ct },
    })
}

fn encrypt(
    cipher: &Aes256Gcm,
    plaintext: &[u8],
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, EnvelopeError> {
    cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| EnvelopeError::TooLarge)
}

fn decrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    ct: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    cipher
        .decrypt(&Nonce::<Aes256Gcm>::from(*nonce), Payload { msg: ct, aad })
        .map_err(|_| EnvelopeError::Decrypt)
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
