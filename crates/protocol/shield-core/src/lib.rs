//! Pure-Rust core of keyward **shield** (`shield.md`): everything the shield components need that
//! is protocol or crypto rather than I/O, so it can be unit-tested natively and linked into
//! `wasm32-wasip2` Spin components unchanged.
//!
//! - [`shamir`]: 2-of-2 Shamir over GF(2^8) (AES polynomial `0x11b`) for the project key (docs/shield.md, "Design: the project key" steps 1–4).
//! - [`kcv`]: the keyward key-check value and [`project_key`], the full reconstruction
//!   (docs/shield.md, "Design: the project key", steps 1–5).
//! - [`share_cipher`]: AES-256-GCM share encryption, `base64std(nonce || ciphertext || tag)` (docs/shield.md, "Design: share encryption").
//! - [`api_secret`]: API-secret digests (docs/shield.md, "Design: authentication") and the operator-token check (docs/shield.md, "Design: authentication").
//! - [`validate`]: the share validator (docs/shield.md, "Design: shares on the wire"), [`Entropy`] and [`StorageMethod`].
//!
//! Secrets ([`Key`], parts, plaintext shares) are zeroized on drop and never appear in `Debug`
//! output or error messages.
//!
//! ```
//! use shield_core::{generate_project_key, project_key, share_cipher, InvalidPart};
//!
//! // POST /project/encryption-key: store db_part (sealed) + key_check, return encryption_part.
//! let new = generate_project_key()?;
//! // A `project` share write: rebuild K from the stored DB part and the caller's part (docs/shield.md, "Design: the project key").
//! let key = project_key(&new.db_part, &new.encryption_part, Some(&new.key_check))?;
//! let data = share_cipher::encrypt(&key, "my-share-secret")?;
//! assert_eq!(share_cipher::decrypt(&key, &data)?.as_str(), "my-share-secret");
//! // The DB part offered as encryption part (x = 1 twice) is rejected with the wire message.
//! let err = project_key(&new.db_part, &new.db_part, Some(&new.key_check)).unwrap_err();
//! assert_eq!(err.to_string(), InvalidPart::MESSAGE);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api_secret;
pub mod kcv;
mod key;
pub mod otp;
pub mod retry;
pub mod shamir;
pub mod share_cipher;
pub mod validate;

pub use kcv::{
    NewProjectKey, generate_project_key, key_check_value, project_key, verify_key_check,
};
pub use key::{KEY_LEN, Key, RngError};
pub use shamir::{InvalidPart, SplitKey};
pub use share_cipher::CipherError;
pub use validate::{
    Entropy, PasskeyEnv, PasskeyReference, ShareInput, StorageMethod, ValidationError,
    validate_share,
};
