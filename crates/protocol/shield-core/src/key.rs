//! The 32-byte project key K (docs/shield.md, "Design: the project key") and the CSPRNG wrapper.

use core::fmt;

use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

/// Length of the project key K in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// The project encryption key K.
///
/// Boxed so that moving a `Key` around moves only a pointer: the bytes live in one heap
/// allocation that is wiped on drop, instead of leaving stale copies in stack frames.
/// `Debug` is redacted and equality is constant-time.
pub struct Key(Box<[u8; KEY_LEN]>);

impl Key {
    /// A fresh key from the CSPRNG.
    pub fn generate() -> Result<Self, RngError> {
        let mut key = Key(Box::new([0u8; KEY_LEN]));
        fill_random(key.0.as_mut_slice())?;
        Ok(key)
    }

    /// Wraps raw key bytes. The caller remains responsible for wiping its own copy.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(Box::new(bytes))
    }

    /// The raw key bytes (for the cipher / MAC; never log them).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A zeroed key to be filled in place (avoids building the bytes on the stack first).
    pub(crate) fn zeroed() -> Self {
        Key(Box::new([0u8; KEY_LEN]))
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Key(Box::new(*self.0))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

impl ConstantTimeEq for Key {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Key {}

/// The operating system's CSPRNG failed (should never happen on supported targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("random number generator unavailable")]
pub struct RngError;

/// Fills `buf` from the platform CSPRNG (`getrandom`; on `wasm32-wasip2` that is `wasi:random`).
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), RngError> {
    getrandom::fill(buf).map_err(|_| RngError)
}
