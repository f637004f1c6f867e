//! secp256k1 keys and recoverable ECDSA signatures in Ethereum's formats.
//!
//! Signing uses RFC 6979 deterministic nonces and low-S normalisation (k256 adjusts the recovery
//! id when it flips s), so a digest always gets the byte-identical signature go-ethereum's
//! `crypto.Sign` produces. Every signature is recovered and compared with the signer's own public
//! key before it is returned (docs/guardian.md, "Design: keys"): a fault can then never emit a signature for a
//! different key.

use crate::address::Address;
use crate::error::{Error, ErrorCode};
use core::fmt;
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// A secp256k1 private key. The scalar is zeroised on drop (k256's `SigningKey` does it) and
/// never printed: `Debug` shows only the address.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// From 32 big-endian bytes; rejects 0 and values ≥ the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        SigningKey::from_slice(bytes)
            .map(PrivateKey)
            .map_err(|_| Error::new(ErrorCode::KeyUnavailable, "invalid secp256k1 private key"))
    }

    /// From a scalar already known to be in `1..n` (BIP32 child derivation).
    pub(crate) fn from_nonzero_scalar(scalar: k256::NonZeroScalar) -> Self {
        PrivateKey(SigningKey::from(scalar))
    }

    /// The raw scalar, in a buffer zeroised on drop (for tests and key export tooling).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes().into())
    }

    /// Uncompressed SEC1 public key: `0x04 ‖ X ‖ Y`.
    pub fn public_key_uncompressed(&self) -> [u8; 65] {
        uncompressed(self.0.verifying_key())
    }

    pub fn address(&self) -> Address {
        address_of(self.0.verifying_key())
    }

    /// Signs a 32-byte digest as is (no hashing): RFC 6979, low-S, recovery id in {0,1}.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, Error> {
        let (sig, recid) = self.0.sign_prehash_recoverable(digest);
        // An x-reduced R (recovery id 2 or 3) has probability ~2^-128 and Ethereum's v cannot
        // express it; refuse rather than emit an unrecoverable signature.
        if recid.is_x_reduced() {
            return Err(Error::internal("signature not expressible with v in {0,1}"));
        }
        let (r, s) = sig.split_bytes();
        let out = RecoverableSignature {
            r: r.into(),
            s: s.into(),
            recovery_id: u8::from(recid.is_y_odd()),
        };
        let recovered = recover_verifying_key(digest, &out)?;
        if recovered != *self.0.verifying_key() {
            return Err(Error::internal(
                "signature does not recover to the signing key",
            ));
        }
        Ok(out)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted>, address {})", self.address())
    }
}

/// An ECDSA signature with its recovery id (0 or 1; the y-parity of R).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecoverableSignature {
    pub r: [u8; 32],
    pub s: [u8; 32],
    pub recovery_id: u8,
}

impl RecoverableSignature {
    /// `r ‖ s ‖ v` with `v = recovery_id` ∈ {0,1}: go-ethereum `crypto.Sign`, `/guardian/sign`.
    pub fn to_bytes(&self) -> [u8; 65] {
        self.with_v(self.recovery_id)
    }

    /// `r ‖ s ‖ v` with `v = 27 + recovery_id`: EIP-191 and EIP-712 (`sign-message`,
    /// `sign-typed-data`), as wallets produce them.
    pub fn to_bytes_v27(&self) -> [u8; 65] {
        self.with_v(27 + self.recovery_id)
    }

    /// `0x` + hex of [`Self::to_bytes`] (132 characters).
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.to_bytes())
    }

    /// `0x` + hex of [`Self::to_bytes_v27`].
    pub fn to_hex_v27(&self) -> String {
        crate::hex::encode(&self.to_bytes_v27())
    }

    fn with_v(&self, v: u8) -> [u8; 65] {
        let mut out = [0u8; 65];
        let (r, rest) = out.split_at_mut(32);
        let (s, last) = rest.split_at_mut(32);
        r.copy_from_slice(&self.r);
        s.copy_from_slice(&self.s);
        if let Some(b) = last.first_mut() {
            *b = v;
        }
        out
    }

    /// Parses 65 bytes `r ‖ s ‖ v`, v ∈ {0, 1, 27, 28}.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad =
            || Error::bad_request("signature must be 65 bytes r || s || v with v in {0,1,27,28}");
        let (rs, v) = match bytes.split_last() {
            Some((v, rs)) if rs.len() == 64 => (rs, *v),
            _ => return Err(bad()),
        };
        let recovery_id = match v {
            0 | 1 => v,
            27 | 28 => v - 27,
            _ => return Err(bad()),
        };
        let (r, s) = rs.split_at(32);
        Ok(RecoverableSignature {
            r: r.try_into().map_err(|_| bad())?,
            s: s.try_into().map_err(|_| bad())?,
            recovery_id,
        })
    }
}

fn uncompressed(vk: &VerifyingKey) -> [u8; 65] {
    let point = vk.to_sec1_point(false);
    let mut out = [0u8; 65];
    if point.as_bytes().len() == 65 {
        out.copy_from_slice(point.as_bytes());
    }
    out
}

fn address_of(vk: &VerifyingKey) -> Address {
    // The uncompressed encoding of a valid key always has the 0x04 ‖ X ‖ Y shape.
    Address::from_uncompressed_public_key(&uncompressed(vk)).unwrap_or(Address([0; 20]))
}

fn recover_verifying_key(
    digest: &[u8; 32],
    sig: &RecoverableSignature,
) -> Result<VerifyingKey, Error> {
    let invalid = || Error::bad_request("signature does not recover to a public key");
    let signature = Signature::from_scalars(sig.r, sig.s).map_err(|_| invalid())?;
    let recid = RecoveryId::from_byte(sig.recovery_id).ok_or_else(invalid)?;
    VerifyingKey::recover_from_prehash(digest, &signature, recid).map_err(|_| invalid())
}

/// Recovers the uncompressed public key (`0x04 ‖ X ‖ Y`) that produced `signature`
/// (65 bytes, v ∈ {0,1,27,28}) over `digest`.
pub fn recover_public_key(digest: &[u8; 32], signature: &[u8]) -> Result<[u8; 65], Error> {
    let sig = RecoverableSignature::from_bytes(signature)?;
    Ok(uncompressed(&recover_verifying_key(digest, &sig)?))
}

/// Recovers the signer's address; see [`recover_public_key`].
pub fn recover_address(digest: &[u8; 32], signature: &[u8]) -> Result<Address, Error> {
    let sig = RecoverableSignature::from_bytes(signature)?;
    Ok(address_of(&recover_verifying_key(digest, &sig)?))
}
