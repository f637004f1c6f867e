//! Keccak-256, the hash every Ethereum structure uses (addresses, transactions, EIP-191 and
//! EIP-712 digests). Its own module so that `address` and `keys` both use it without importing
//! each other.

use sha3::{Digest, Keccak256};

/// Keccak-256 (Ethereum's, not SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}
