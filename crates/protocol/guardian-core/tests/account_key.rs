//! docs/guardian.md, "Design: keys": the stored account key (`m/44'/60'/0'/0`) derives the same
//! keys and addresses as the mnemonic, byte for byte, for the spec's vectors and beyond.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use guardian_core::hd::AccountKey;
use guardian_core::{ErrorCode, MAX_ADDRESS_INDEX, Mnemonic, hex};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/guardian.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const HARDHAT: &str = "test test test test test test test test test test test junk";

#[test]
fn every_vector_with_a_mnemonic_derives_the_same_key_from_the_account_key() {
    let mut checked = 0;
    for v in vectors() {
        let (Some(m), Some(idx)) = (
            v.get("mnemonic").and_then(Value::as_str),
            v.get("address_index").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let idx = idx as u32;
        let account = Mnemonic::parse(m).unwrap().account_key().unwrap();
        // Through the stored form, as the service reads it back.
        let account = AccountKey::from_bytes(account.to_bytes().as_ref()).unwrap();
        let key = account.derive_key(idx).unwrap();
        if let Some(want) = v.get("private_key").and_then(Value::as_str) {
            assert_eq!(hex::encode(&*key.to_bytes()), want, "{}", v["name"]);
        }
        if let Some(want) = v.get("address").and_then(Value::as_str) {
            assert_eq!(key.address().to_checksum(), want, "{}", v["name"]);
            assert_eq!(
                account.derive_address(idx).unwrap().to_checksum(),
                want,
                "{}",
                v["name"]
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} vectors name a mnemonic");
}

#[test]
fn the_account_key_and_the_mnemonic_agree_on_many_indices() {
    for phrase in [
        HARDHAT.to_owned(),
        Mnemonic::generate().unwrap().phrase().to_string(),
    ] {
        let m = Mnemonic::parse(&phrase).unwrap();
        let account = m.account_key().unwrap();
        let indices = (0..40).chain([1000, 65_535, 0x1234_5678, MAX_ADDRESS_INDEX]);
        for i in indices {
            let a = account.derive_key(i).unwrap();
            let b = m.derive_key(i).unwrap();
            assert_eq!(*a.to_bytes(), *b.to_bytes(), "index {i}");
            let digest = [i as u8; 32];
            assert_eq!(
                a.sign_digest(&digest).unwrap(),
                b.sign_digest(&digest).unwrap()
            );
        }
    }
}

#[test]
fn the_account_key_is_bip32s_extended_key_at_the_external_chain() {
    // Hardhat's m/44'/60'/0'/0 as the bip32 crate derives it from the seed: the stored form is
    // its chain code, its key and its compressed public key.
    let account = Mnemonic::parse(HARDHAT).unwrap().account_key().unwrap();
    let bytes = account.to_bytes();
    assert_eq!(bytes.len(), AccountKey::LEN);
    let m = Mnemonic::parse(HARDHAT).unwrap();
    let seed = m.to_seed();
    let xprv = bip32_reference(seed.as_ref());
    assert_eq!(&bytes[..32], &xprv.0, "chain code");
    assert_eq!(&bytes[32..64], &xprv.1, "private key");
    assert_eq!(&bytes[64..], &xprv.2, "compressed public key");
}

/// bip32's own derivation of m/44'/60'/0'/0.
fn bip32_reference(seed: &[u8]) -> ([u8; 32], [u8; 32], [u8; 33]) {
    use bip32::{ChildNumber, XPrv};
    let mut k = XPrv::new(seed).unwrap();
    for (i, h) in [(44, true), (60, true), (0, true), (0, false)] {
        k = k.derive_child(ChildNumber::new(i, h).unwrap()).unwrap();
    }
    (
        k.attrs().chain_code,
        k.to_bytes(),
        k.public_key().to_bytes(),
    )
}

#[test]
fn bad_stored_bytes_and_indices_are_refused_without_echoing_them() {
    let good = Mnemonic::parse(HARDHAT).unwrap().account_key().unwrap();
    let bytes = good.to_bytes();
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        bytes[..96].to_vec(),
        [bytes.as_ref(), &[0]].concat(),
    ];
    let mut zero_key = bytes.to_vec();
    zero_key[32..64].fill(0);
    cases.push(zero_key);
    let mut over_order = bytes.to_vec();
    over_order[32..64].fill(0xff);
    cases.push(over_order);
    let mut bad_tag = bytes.to_vec();
    bad_tag[64] = 4;
    cases.push(bad_tag);
    for c in cases {
        let e = AccountKey::from_bytes(&c).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeyUnavailable);
        assert!(!e.message().contains(&hex::encode(&bytes[32..64])[2..]));
    }
    let e = good.derive_key(MAX_ADDRESS_INDEX + 1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidAddressIndex);
    assert_eq!(format!("{good:?}"), "AccountKey(<redacted>)");
}
