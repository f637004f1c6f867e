//! Every entry of `vectors/guardian.json` (a copy of the spec's vectors file), reproduced.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use guardian_core::request::{
    parse_sign_message_request, parse_sign_request, parse_sign_tx_request,
    parse_sign_typed_data_request,
};
use guardian_core::{
    Address, Mnemonic, PrivateKey, TxType, TypedData, hd_path, hex, recover_address,
    recover_public_key, sign_personal_message, sign_tx, sign_typed_data,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/guardian.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn of_kind(kind: &str) -> Vec<Value> {
    let all: Vec<Value> = vectors()
        .into_iter()
        .filter(|v| v["kind"] == kind)
        .collect();
    assert!(!all.is_empty(), "no vectors of kind {kind}");
    all
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {}", v["name"]))
}

fn b32(hexstr: &str) -> [u8; 32] {
    hex::decode_fixed(hexstr).unwrap()
}

/// The vector's key; when it also names a mnemonic and index, check derivation agrees.
fn key_of(v: &Value) -> PrivateKey {
    let key = PrivateKey::from_bytes(&b32(s(v, "private_key"))).unwrap();
    if let Some(m) = v.get("mnemonic").and_then(Value::as_str) {
        let idx = v["address_index"].as_u64().unwrap() as u32;
        let derived = Mnemonic::parse(m).unwrap().derive_key(idx).unwrap();
        assert_eq!(*derived.to_bytes(), *key.to_bytes(), "{}", v["name"]);
    }
    key
}

#[test]
fn all_vector_kinds_are_covered() {
    let mut counts = BTreeMap::new();
    for v in vectors() {
        *counts.entry(s(&v, "kind").to_string()).or_insert(0) += 1;
    }
    let known = [
        "bip39_entropy",
        "bip44_derivation",
        "eip1559_tx",
        "eip155_legacy_tx",
        "eip191_personal_sign",
        "eip55_checksum",
        "eip712_typed_data",
        "envelope",
        "recover",
        "sign_digest",
    ];
    for kind in counts.keys() {
        assert!(
            known.contains(&kind.as_str()),
            "untested vector kind {kind}"
        );
    }
    assert_eq!(counts.values().sum::<usize>(), 37, "{counts:?}");
}

fn check_tx(v: &Value) {
    let name = &v["name"];
    let key = key_of(v);
    let req = parse_sign_tx_request(&v["request"]).unwrap();
    assert_eq!(
        u64::from(req.address_index),
        v.get("address_index").and_then(Value::as_u64).unwrap_or(0)
    );
    assert_eq!(
        hex::encode(&req.tx.signing_payload().unwrap()),
        s(v, "signing_data"),
        "{name}"
    );
    assert_eq!(
        hex::encode(&req.tx.signing_hash().unwrap()),
        s(v, "signing_hash")
    );
    let signed = sign_tx(&key, &req.tx).unwrap();
    assert_eq!(signed.raw_hex(), s(v, "signed_tx_rlp"), "{name}");
    assert_eq!(signed.hash_hex(), s(v, "tx_hash"), "{name}");
    assert_eq!(signed.from.to_checksum(), s(v, "from"));
    assert_eq!(signed.r.to_be_bytes(), b32(s(v, "r")));
    assert_eq!(signed.s.to_be_bytes(), b32(s(v, "s")));
    match req.tx.tx_type {
        TxType::Legacy => assert_eq!(Some(signed.v), v["v"].as_u64()),
        _ => assert_eq!(Some(u64::from(signed.y_parity)), v["y_parity"].as_u64()),
    }
    let json: Value = serde_json::from_str(&signed.json).unwrap();
    assert_eq!(json, v["signed_tx_json"], "{name}");
    // The signature recovers to the sender.
    let mut sig = [0u8; 65];
    sig[..32].copy_from_slice(&signed.r.to_be_bytes());
    sig[32..64].copy_from_slice(&signed.s.to_be_bytes());
    sig[64] = signed.y_parity;
    assert_eq!(
        recover_address(&signed.signing_hash, &sig).unwrap(),
        signed.from
    );
}

#[test]
fn eip155_legacy_tx() {
    for v in of_kind("eip155_legacy_tx") {
        check_tx(&v);
    }
}

#[test]
fn eip1559_tx() {
    for v in of_kind("eip1559_tx") {
        check_tx(&v);
    }
}

#[test]
fn sign_digest() {
    for v in of_kind("sign_digest") {
        let key = key_of(&v);
        assert_eq!(key.address().to_checksum(), s(&v, "address"));
        let req = parse_sign_request(&json!({"raw_data": v["raw_data"]})).unwrap();
        let sig = key.sign_digest(&req.digest).unwrap();
        assert_eq!(sig.to_hex(), s(&v, "signature"), "{}", v["name"]);
        assert_eq!(sig.to_hex().len(), 132);
        // The same digest with a 0x prefix and in upper case is the same request.
        let upper = format!("0x{}", s(&v, "raw_data").to_uppercase());
        assert_eq!(
            parse_sign_request(&json!({ "raw_data": upper }))
                .unwrap()
                .digest,
            req.digest
        );
        assert_eq!(
            recover_address(&req.digest, &sig.to_bytes()).unwrap(),
            key.address()
        );
    }
}

#[test]
fn recover() {
    for v in of_kind("recover") {
        let digest = b32(s(&v, "digest"));
        let sig = hex::decode(s(&v, "signature")).unwrap();
        let pubkey = recover_public_key(&digest, &sig).unwrap();
        assert_eq!(hex::encode(&pubkey), s(&v, "public_key"));
        assert_eq!(
            recover_address(&digest, &sig).unwrap().to_checksum(),
            s(&v, "address")
        );
        assert_eq!(
            Address::from_uncompressed_public_key(&pubkey)
                .unwrap()
                .to_checksum(),
            s(&v, "address")
        );
    }
}

#[test]
fn eip191_personal_sign() {
    for v in of_kind("eip191_personal_sign") {
        let key = key_of(&v);
        assert_eq!(key.address().to_checksum(), s(&v, "address"));
        let utf8 = parse_sign_message_request(
            &json!({"message": v["message"], "encoding": v["encoding"]}),
        )
        .unwrap();
        let hexed =
            parse_sign_message_request(&json!({"message": v["message_hex"], "encoding": "hex"}))
                .unwrap();
        let default = parse_sign_message_request(&json!({ "message": v["message"] })).unwrap();
        assert_eq!(utf8.message, hexed.message);
        assert_eq!(utf8.message, default.message);
        let (hash, sig) = sign_personal_message(&key, &utf8.message).unwrap();
        assert_eq!(hex::encode(&hash), s(&v, "message_hash"));
        assert_eq!(sig.to_hex_v27(), s(&v, "signature"), "{}", v["name"]);
        assert_eq!(
            recover_address(&hash, &sig.to_bytes_v27()).unwrap(),
            key.address()
        );
    }
}

#[test]
fn eip712_typed_data() {
    for v in of_kind("eip712_typed_data") {
        let key = key_of(&v);
        assert_eq!(key.address().to_checksum(), s(&v, "address"));
        let td = v["typed_data"].clone();

        // As an object, as a JSON string, and with EIP712Domain left to be derived.
        let mut without_domain_type = td.clone();
        without_domain_type["types"]
            .as_object_mut()
            .unwrap()
            .remove("EIP712Domain");
        let forms = [
            td.clone(),
            Value::String(td.to_string()),
            without_domain_type,
        ];
        for form in forms {
            let req = parse_sign_typed_data_request(
                &json!({"typed_data": form, "address_index": v.get("address_index")}),
            )
            .unwrap();
            let (hashes, sig) = sign_typed_data(&key, &req.typed_data).unwrap();
            assert_eq!(
                hex::encode(&hashes.domain_separator),
                s(&v, "domain_separator")
            );
            assert_eq!(
                hex::encode(&hashes.struct_hash.unwrap()),
                s(&v, "struct_hash")
            );
            assert_eq!(hex::encode(&hashes.digest), s(&v, "digest"));
            assert_eq!(sig.to_hex_v27(), s(&v, "signature"), "{}", v["name"]);
        }
        let parsed = TypedData::from_json(&td).unwrap();
        assert_eq!(
            parsed.encode_type("Mail").unwrap(),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
        );
    }
}

#[test]
fn bip44_derivation() {
    for v in of_kind("bip44_derivation") {
        assert_eq!(s(&v, "passphrase"), "");
        let m = Mnemonic::parse(s(&v, "mnemonic")).unwrap();
        let idx = v["address_index"].as_u64().unwrap() as u32;
        assert_eq!(hd_path(idx), s(&v, "path"));
        let key = m.derive_key(idx).unwrap();
        assert_eq!(
            hex::encode(&*key.to_bytes()),
            s(&v, "private_key"),
            "{}",
            v["name"]
        );
        assert_eq!(key.address().to_checksum(), s(&v, "address"));
        assert_eq!(
            m.derive_address(idx).unwrap().to_checksum(),
            s(&v, "address")
        );
    }
}

#[test]
fn bip39_entropy() {
    for v in of_kind("bip39_entropy") {
        let entropy = hex::decode(s(&v, "entropy")).unwrap();
        let m = Mnemonic::from_entropy(&entropy).unwrap();
        assert_eq!(m.phrase().as_str(), s(&v, "mnemonic"));
        assert_eq!(Some(m.word_count() as u64), v["word_count"].as_u64());
        assert_eq!(hex::encode(&*m.to_seed()), s(&v, "seed"));
        let parsed = Mnemonic::parse(s(&v, "mnemonic")).unwrap();
        assert_eq!(*parsed.to_seed(), *m.to_seed());
    }
}

#[test]
fn eip55_checksum() {
    for v in of_kind("eip55_checksum") {
        let lower = Address::parse(s(&v, "lowercase")).unwrap();
        assert_eq!(lower.to_checksum(), s(&v, "checksummed"));
        let checked = Address::parse(s(&v, "checksummed")).unwrap();
        assert_eq!(checked, lower);
        let upper = format!("0x{}", &s(&v, "lowercase")[2..].to_uppercase());
        assert_eq!(Address::parse(&upper).unwrap(), lower);
    }
}

/// The envelope's AES-GCM/HKDF layer is the `envelope` crate's (and is tested there); here the
/// plaintext it carries must be a mnemonic guardian accepts.
#[test]
fn envelope_plaintext_is_a_guardian_mnemonic() {
    for v in of_kind("envelope") {
        assert_eq!(s(&v, "info"), "keyward/guardian/mnemonic/v1");
        let m = Mnemonic::parse(s(&v, "plaintext")).unwrap();
        assert_eq!(m.word_count(), 24);
        assert_eq!(
            m.derive_address(0).unwrap().to_checksum(),
            "0xF278cF59F82eDcf871d630F28EcC8056f25C1cdb"
        );
    }
}
