//! AES-256-GCM encryption of `project`-entropy shares (docs/shield.md, "Design: share encryption"):
//! random 12-byte nonce, 16-byte tag, no AAD, data = base64std(nonce || ciphertext || tag).
//!
//! No AAD because upstream Shield stores shares that way and shield-compatible data must move
//! between the two; the at-rest sealing of the column (docs/platform.md, "Design: sealing at rest") binds rows separately.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead as _, KeyInit as _, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::key::{Key, RngError, fill_random};

/// GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// GCM tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Why encryption or decryption failed. Contains no key or plaintext material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// The CSPRNG could not produce a nonce.
    #[error("random number generator unavailable")]
    Rng,
    /// The stored data is not valid padded standard base64.
    #[error("share data is not valid base64")]
    Encoding,
    /// The decoded data is shorter than nonce + tag.
    #[error("share data is too short")]
    TooShort,
    /// Authentication failed: wrong key or tampered data.
    #[error("share data failed authentication")]
    Authentication,
    /// The plaintext is not UTF-8 (shares are UTF-8 strings).
    #[error("decrypted share is not UTF-8")]
    NotUtf8,
    /// The AEAD refused to encrypt (input beyond GCM's length limit).
    #[error("share encryption failed")]
    Encrypt,
}

impl From<RngError> for CipherError {
    fn from(_: RngError) -> Self {
        CipherError::Rng
    }
}

fn cipher(key: &Key) -> Aes256Gcm {
    Aes256Gcm::new(key.as_bytes().into())
}

/// Encrypts a share secret under K with a fresh random nonce.
pub fn encrypt(key: &Key, plaintext: &str) -> Result<String, CipherError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    encrypt_with_nonce(key, &nonce, plaintext.as_bytes())
}

/// Encrypts with a caller-chosen nonce: for test vectors only. A nonce must never be used twice
/// under one key (GCM then leaks the XOR of plaintexts and the authentication key).
pub fn encrypt_with_nonce(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<String, CipherError> {
    let ciphertext = cipher(key)
        .encrypt(&Nonce::<Aes256Gcm>::from(*nonce), plaintext)
        .map_err(|_| CipherError::Encrypt)?;
    let mut data = Vec::with_capacity(NONCE_LEN.saturating_add(ciphertext.len()));
    data.extend_from_slice(nonce);
    data.extend_from_slice(&ciphertext);
    Ok(STANDARD.encode(data))
}

/// Decrypts stored share data under K. Never panics on malformed data.
pub fn decrypt(key: &Key, data: &str) -> Result<Zeroizing<String>, CipherError> {
    let raw = STANDARD.decode(data).map_err(|_| CipherError::Encoding)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(CipherError::TooShort);
    }
    let (nonce, ciphertext) = raw
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(CipherError::TooShort)?;
    let plaintext = cipher(key)
        .decrypt(&Nonce::<Aes256Gcm>::from(*nonce), ciphertext)
        .map_err(|_| CipherError::Authentication)?;
    // Convert in place (no copy); on failure wipe the bytes handed back by the error.
    String::from_utf8(plaintext)
        .map(Zeroizing::new)
        .map_err(|err| {
            drop(Zeroizing::new(err.into_bytes()));
            CipherError::NotUtf8
        })
}
