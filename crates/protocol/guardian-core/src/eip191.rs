//! EIP-191 version 0x45 ("personal_sign") hashing and signing (docs/guardian.md, "Design: signing routes").

use crate::error::Error;
use crate::keccak::keccak256;
use crate::keys::{PrivateKey, RecoverableSignature};

/// keccak256("\x19Ethereum Signed Message:\n" ‖ decimal byte length ‖ message).
pub fn personal_message_hash(message: &[u8]) -> [u8; 32] {
    let prefix = format!("\x19Ethereum Signed Message:\n{}", message.len());
    let mut data = Vec::with_capacity(prefix.len() + message.len());
    data.extend_from_slice(prefix.as_bytes());
    data.extend_from_slice(message);
    keccak256(&data)
}

/// Hashes and signs a personal message; return the hash and the signature (serialise it with
/// [`RecoverableSignature::to_hex_v27`]: v ∈ {27,28} for this route).
pub fn sign_personal_message(
    key: &PrivateKey,
    message: &[u8],
) -> Result<([u8; 32], RecoverableSignature), Error> {
    let hash = personal_message_hash(message);
    let sig = key.sign_digest(&hash)?;
    Ok((hash, sig))
}
