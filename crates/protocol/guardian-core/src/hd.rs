//! BIP39 mnemonics and BIP32/BIP44 derivation on Ethereum's path `m/44'/60'/0'/0/{address_index}`
//! (docs/guardian.md, "Design: keys").

use crate::address::Address;
use crate::error::{Error, ErrorCode};
use crate::keys::PrivateKey;
use bip32::{ChildNumber, XPrv};
use core::fmt;
use hmac::{Hmac, KeyInit, Mac};
use k256::elliptic_curve::PrimeField;
use k256::{FieldBytes, NonZeroScalar, Scalar};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

/// Largest `address_index` (2^31 − 1): the last path element is non-hardened.
pub const MAX_ADDRESS_INDEX: u32 = 0x7fff_ffff;

/// The derivation path for an address index, as reported by `/guardian/export`.
pub fn hd_path(address_index: u32) -> String {
    format!("m/44'/60'/0'/0/{address_index}")
}

/// An English BIP39 mnemonic. Word indices are zeroised on drop (bip39's `zeroize` feature);
/// `Debug` never shows words.
#[derive(Clone)]
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// A new 24-word mnemonic from 32 bytes of the platform CSPRNG (`getrandom`).
    pub fn generate() -> Result<Self, Error> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        getrandom::fill(entropy.as_mut())
            .map_err(|_| Error::internal("CSPRNG unavailable for key creation"))?;
        Self::from_entropy(entropy.as_ref())
    }

    /// From 16, 20, 24, 28 or 32 bytes of entropy (12…24 words).
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, Error> {
        bip39::Mnemonic::from_entropy(entropy)
            .map(Mnemonic)
            .map_err(|_| {
                Error::new(
                    ErrorCode::Internal,
                    "entropy must be 16 to 32 bytes in steps of 4",
                )
            })
    }

    /// Parses a 12, 15, 18, 21 or 24-word English mnemonic (checksum verified; words separated by
    /// any whitespace). The error never repeats the input.
    ///
    /// Every word of the English list is ASCII, and NFKD leaves ASCII unchanged, so for the
    /// phrases this accepts the seed is exactly BIP39's PBKDF2 over NFKD(mnemonic). Non-ASCII
    /// input is rejected instead of normalised: that keeps Unicode tables (~100 KB of wasm) out of
    /// the components, and guardian only ever stores phrases it generated itself.
    pub fn parse(phrase: &str) -> Result<Self, Error> {
        let invalid = |why: String| {
            Error::new(
                ErrorCode::KeyUnavailable,
                format!("invalid mnemonic: {why}"),
            )
        };
        if !phrase.is_ascii() {
            return Err(invalid("not ASCII English words".to_string()));
        }
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase)
            .map(Mnemonic)
            .map_err(|e| {
                invalid(match e {
                    bip39::Error::BadWordCount(n) => {
                        format!("{n} words (expected 12, 15, 18, 21 or 24)")
                    }
                    bip39::Error::UnknownWord(i) => {
                        format!("word {} is not in the English list", i + 1)
                    }
                    bip39::Error::InvalidChecksum => "checksum mismatch".to_string(),
                    _ => "not a valid English BIP39 mnemonic".to_string(),
                })
            })
    }

    /// The words separated by single spaces, in a buffer zeroised on drop.
    pub fn phrase(&self) -> Zeroizing<String> {
        // 24 words of at most 8 letters plus 23 spaces fit in 216 bytes: the buffer never
        // reallocates, so no unwiped copy of the phrase is left behind in freed memory.
        let mut out = Zeroizing::new(String::with_capacity(24 * 9));
        for (i, w) in self.0.words().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
        out
    }

    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The BIP39 seed with the empty passphrase: PBKDF2-HMAC-SHA512(NFKD(mnemonic), "mnemonic", 2048).
    pub fn to_seed(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.0.to_seed_normalized(""))
    }

    /// The key at `m/44'/60'/0'/0/{address_index}`.
    pub fn derive_key(&self, address_index: u32) -> Result<PrivateKey, Error> {
        derive_key_from_seed(self.to_seed().as_ref(), address_index)
    }

    /// The address at `m/44'/60'/0'/0/{address_index}`.
    pub fn derive_address(&self, address_index: u32) -> Result<Address, Error> {
        Ok(self.derive_key(address_index)?.address())
    }

    /// The extended private key at `m/44'/60'/0'/0`, what signing keeps (see [`AccountKey`]).
    /// Pays the BIP39 seed once.
    pub fn account_key(&self) -> Result<AccountKey, Error> {
        let derive_err = || Error::new(ErrorCode::KeyUnavailable, "BIP32 derivation failed");
        let mut key = XPrv::new(self.to_seed().as_ref()).map_err(|_| derive_err())?;
        for (index, hardened) in [(44, true), (60, true), (0, true), (0, false)] {
            let child = ChildNumber::new(index, hardened).map_err(|_| derive_err())?;
            key = key.derive_child(child).map_err(|_| derive_err())?;
        }
        let mut bytes = Zeroizing::new([0u8; AccountKey::LEN]);
        let (cc, rest) = bytes.split_at_mut(32);
        let (secret, public) = rest.split_at_mut(32);
        cc.copy_from_slice(&key.attrs().chain_code);
        secret.copy_from_slice(Zeroizing::new(key.to_bytes()).as_ref());
        public.copy_from_slice(&key.public_key().to_bytes());
        AccountKey::from_bytes(bytes.as_ref())
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic(<redacted>, {} words)", self.word_count())
    }
}

/// The extended private key at `m/44'/60'/0'/0` (the account's external chain): what signing
/// needs, stored sealed so that a signature costs one non-hardened child derivation instead of
/// the BIP39 seed (PBKDF2-HMAC-SHA512 × 2048) and five derivations (docs/guardian.md, "Design:
/// keys"). Derived once from the mnemonic ([`Mnemonic::account_key`]).
///
/// It also carries its compressed public key, so that a child derivation multiplies no point:
/// BIP32's CKDpriv hashes the parent's public key, and computing it would cost a scalar
/// multiplication per signature. The bytes are only ever read back from the authenticated
/// envelope this type was sealed in, so the public key is the one computed at derivation.
///
/// Secrets are zeroised on drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct AccountKey {
    chain_code: Zeroizing<[u8; 32]>,
    key: Zeroizing<[u8; 32]>,
    public: [u8; 33],
}

impl AccountKey {
    /// The length of [`AccountKey::to_bytes`].
    pub const LEN: usize = 97;

    /// `chain code (32) ‖ private key (32, big-endian) ‖ compressed public key (33)`, in a
    /// buffer zeroised on drop. The first 64 bytes are BIP32's extended private key material.
    pub fn to_bytes(&self) -> Zeroizing<[u8; Self::LEN]> {
        let mut out = Zeroizing::new([0u8; Self::LEN]);
        let (cc, rest) = out.split_at_mut(32);
        let (key, public) = rest.split_at_mut(32);
        cc.copy_from_slice(self.chain_code.as_ref());
        key.copy_from_slice(self.key.as_ref());
        public.copy_from_slice(&self.public);
        out
    }

    /// Reads [`AccountKey::to_bytes`]' layout: 97 bytes, a private key in `1..n`, a public key
    /// with a compressed SEC1 tag. The error never repeats the input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::new(ErrorCode::KeyUnavailable, "invalid stored account key");
        if bytes.len() != Self::LEN {
            return Err(bad());
        }
        let (cc, rest) = bytes.split_at(32);
        let (key, public) = rest.split_at(32);
        let mut out = AccountKey {
            chain_code: Zeroizing::new([0u8; 32]),
            key: Zeroizing::new([0u8; 32]),
            public: [0u8; 33],
        };
        out.chain_code.copy_from_slice(cc);
        out.key.copy_from_slice(key);
        out.public.copy_from_slice(public);
        if !matches!(out.public.first(), Some(2 | 3)) {
            return Err(bad());
        }
        scalar_of(&out.key).ok_or_else(bad)?;
        Ok(out)
    }

    /// The key at `m/44'/60'/0'/0/{address_index}`: BIP32 CKDpriv, byte-identical to
    /// [`Mnemonic::derive_key`].
    pub fn derive_key(&self, address_index: u32) -> Result<PrivateKey, Error> {
        check_index(address_index)?;
        let derive_err = || Error::new(ErrorCode::KeyUnavailable, "BIP32 derivation failed");
        // I = HMAC-SHA512(chain code, serP(K) ‖ ser32(i)); child = parse256(I_L) + k (mod n),
        // refused if I_L ≥ n or the child is 0 (probability < 2^-127, as bip32 refuses it).
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(self.chain_code.as_ref())
            .map_err(|_| derive_err())?;
        mac.update(&self.public);
        mac.update(&address_index.to_be_bytes());
        let mut i = Zeroizing::new([0u8; 64]);
        i.copy_from_slice(&mac.finalize().into_bytes());
        let mut il = Zeroizing::new([0u8; 32]);
        if let Some(left) = i.get(..32) {
            il.copy_from_slice(left);
        }
        let tweak = Zeroizing::new(scalar_of_any(&il).ok_or_else(derive_err)?);
        let parent = Zeroizing::new(scalar_of(&self.key).ok_or_else(derive_err)?);
        let sum = Zeroizing::new(*parent + *tweak);
        let child =
            Option::<NonZeroScalar>::from(NonZeroScalar::new(*sum)).ok_or_else(derive_err)?;
        Ok(PrivateKey::from_nonzero_scalar(child))
    }

    /// The address at `m/44'/60'/0'/0/{address_index}`.
    pub fn derive_address(&self, address_index: u32) -> Result<Address, Error> {
        Ok(self.derive_key(address_index)?.address())
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(<redacted>)")
    }
}

/// A scalar in `0..n` from 32 big-endian bytes (`None` at or above the order).
fn scalar_of_any(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_repr(FieldBytes::from(*bytes)))
}

/// A private key's scalar: in `1..n`.
fn scalar_of(bytes: &[u8; 32]) -> Option<Scalar> {
    scalar_of_any(bytes).filter(|s| !bool::from(s.is_zero()))
}

fn check_index(address_index: u32) -> Result<(), Error> {
    if address_index > MAX_ADDRESS_INDEX {
        return Err(Error::new(
            ErrorCode::InvalidAddressIndex,
            format!("address_index must be 0..={MAX_ADDRESS_INDEX}"),
        ));
    }
    Ok(())
}

/// Derives `m/44'/60'/0'/0/{address_index}` from a BIP39 seed.
///
/// bip32's intermediate private keys are k256 `SigningKey`s, zeroised when dropped; its chain
/// codes are plain arrays the crate does not wipe (a chain code alone does not reveal a key).
pub fn derive_key_from_seed(seed: &[u8], address_index: u32) -> Result<PrivateKey, Error> {
    check_index(address_index)?;
    let derive_err = || Error::new(ErrorCode::KeyUnavailable, "BIP32 derivation failed");
    let path = [
        (44, true),
        (60, true),
        (0, true),
        (0, false),
        (address_index, false),
    ];
    let mut key = XPrv::new(seed).map_err(|_| derive_err())?;
    for (index, hardened) in path {
        let child = ChildNumber::new(index, hardened).map_err(|_| derive_err())?;
        key = key.derive_child(child).map_err(|_| derive_err())?;
    }
    let mut bytes: [u8; 32] = key.to_bytes();
    let result = PrivateKey::from_bytes(&bytes);
    bytes.zeroize();
    result
}
