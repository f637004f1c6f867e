//! Every case of `tests/vectors/shield.json` (copied from the spec's `vectors/shield.json`).

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use shield_core::kcv::KEY_CHECK_LABEL;
use shield_core::shamir::{self, PART_B64_LEN};
use shield_core::share_cipher::{self, CipherError};
use shield_core::{InvalidPart, KEY_LEN, Key, api_secret, key_check_value, project_key};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/shield.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {field}"))
}

fn key_from_b64(b64: &str) -> Key {
    let bytes: [u8; KEY_LEN] = STANDARD.decode(b64).unwrap().try_into().unwrap();
    Key::from_bytes(bytes)
}

fn key_to_b64(key: &Key) -> String {
    STANDARD.encode(key.as_bytes())
}

fn hex_bytes<const N: usize>(hex_str: &str) -> [u8; N] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

#[test]
fn gf_mul_vectors() {
    let v = vectors();
    let cases = v["gf_mul"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let [a]: [u8; 1] = hex_bytes(s(case, "a_hex"));
        let [b]: [u8; 1] = hex_bytes(s(case, "b_hex"));
        let [p]: [u8; 1] = hex_bytes(s(case, "product_hex"));
        assert_eq!(shamir::gf_mul(a, b), p);
        assert_eq!(shamir::gf_mul(b, a), p);
    }
}

#[test]
fn key_is_bytes_00_to_1f() {
    let v = vectors();
    let key = key_from_b64(s(&v, "key_b64"));
    let expected: Vec<u8> = (0u8..32).collect();
    assert_eq!(key.as_bytes().as_slice(), expected.as_slice());
}

#[test]
fn split_with_vector_coefficients() {
    let v = vectors();
    let key = key_from_b64(s(&v, "key_b64"));
    let coeffs: [u8; KEY_LEN] = hex_bytes(s(&v, "coeffs_hex"));
    let split = shamir::split_with_coefficients(&key, &coeffs);
    assert_eq!(split.db_part.as_str(), s(&v, "db_part_b64"));
    assert_eq!(split.encryption_part.as_str(), s(&v, "encryption_part_b64"));
    assert_eq!(split.db_part.len(), PART_B64_LEN);
    assert_eq!(split.encryption_part.len(), PART_B64_LEN);
}

/// The main split and the alternate one (another polynomial) both give the vectors' key, with
/// and without the key check.
#[test]
fn combine_main_and_alternate_split() {
    let v = vectors();
    let kcv = s(&v["key_check"], "kcv_b64");
    for split in [&v, &v["alternate_split"]] {
        let (db_part, encryption_part) = (s(split, "db_part_b64"), s(split, "encryption_part_b64"));
        let key = shamir::combine(db_part, encryption_part).unwrap();
        assert_eq!(key_to_b64(&key), s(&v, "key_b64"));
        let key = project_key(db_part, encryption_part, Some(kcv)).unwrap();
        assert_eq!(key_to_b64(&key), s(&v, "key_b64"));
    }
}

#[test]
fn legacy_prefix_examples() {
    let v = vectors();
    let kcv = s(&v["key_check"], "kcv_b64");
    let cases = v["legacy_prefix_examples"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let (db, part) = (s(case, "db_part_b64"), s(case, "encryption_part_b64"));
        let key = shamir::combine(db, part).unwrap();
        assert_eq!(key_to_b64(&key), s(case, "key_b64"), "{}", s(case, "note"));
        let key = project_key(db, part, Some(kcv)).unwrap();
        assert_eq!(key_to_b64(&key), s(case, "key_b64"), "{}", s(case, "note"));
    }
}

#[test]
fn legacy_forms_are_the_33_byte_forms_without_x() {
    // The legacy strings are exactly the 33-byte parts with the leading x byte dropped.
    let v = vectors();
    let legacy = &v["legacy_prefix_examples"][0];
    for (full, short, x) in [
        (s(&v, "db_part_b64"), s(legacy, "db_part_b64"), 1u8),
        (
            s(&v, "encryption_part_b64"),
            s(legacy, "encryption_part_b64"),
            2u8,
        ),
    ] {
        let full = STANDARD.decode(full).unwrap();
        let short = STANDARD.decode(short).unwrap();
        assert_eq!(short.len(), 32);
        assert_eq!(full[0], x);
        assert_eq!(&full[1..], short.as_slice());
    }
}

#[test]
fn key_check_value_vector() {
    let v = vectors();
    let kc = &v["key_check"];
    assert_eq!(s(kc, "label").as_bytes(), KEY_CHECK_LABEL);
    let key = key_from_b64(s(&v, "key_b64"));
    let kcv = key_check_value(&key);
    assert_eq!(kcv, s(kc, "kcv_b64"));
    assert_eq!(
        hex::encode(STANDARD.decode(&kcv).unwrap()),
        s(kc, "kcv_hex")
    );
    assert!(shield_core::verify_key_check(&key, s(kc, "kcv_b64")));
}

#[test]
fn aes_gcm_vector() {
    let v = vectors();
    let key = key_from_b64(s(&v, "key_b64"));
    let nonce: [u8; 12] = hex_bytes(s(&v, "nonce_hex"));
    let data =
        share_cipher::encrypt_with_nonce(&key, &nonce, s(&v, "plaintext").as_bytes()).unwrap();
    assert_eq!(data, s(&v, "ciphertext_b64"));
    let plain = share_cipher::decrypt(&key, s(&v, "ciphertext_b64")).unwrap();
    assert_eq!(plain.as_str(), s(&v, "plaintext"));
}

#[test]
fn aes_gcm_vector_decrypts_under_reconstructed_key() {
    let v = vectors();
    let key = project_key(
        s(&v, "db_part_b64"),
        s(&v, "encryption_part_b64"),
        Some(s(&v["key_check"], "kcv_b64")),
    )
    .unwrap();
    let plain = share_cipher::decrypt(&key, s(&v, "ciphertext_b64")).unwrap();
    assert_eq!(plain.as_str(), s(&v, "plaintext"));
}

#[test]
fn wrong_part_example() {
    let v = vectors();
    let w = &v["wrong_part_example"];
    let (db, part) = (s(w, "db_part_b64"), s(w, "encryption_part_b64"));

    // Well-formed: combines, to the documented wrong key K' with its own KCV.
    let wrong = shamir::combine(db, part).unwrap();
    assert_eq!(key_to_b64(&wrong), s(w, "reconstructed_key_b64"));
    assert_eq!(key_check_value(&wrong), s(w, "kcv_b64"));
    assert_ne!(s(w, "kcv_b64"), s(&v["key_check"], "kcv_b64"));

    // With the project's stored KCV: rejected (400 EC_INVALID).
    let err = project_key(db, part, Some(s(&v["key_check"], "kcv_b64"))).unwrap_err();
    assert_eq!(err, InvalidPart::KeyCheckMismatch);
    assert_eq!(err.to_string(), "Invalid encryption part");

    // Without a KCV (imported project): accepted as upstream, and GCM open then fails.
    let wrong = project_key(db, part, None).unwrap();
    assert_eq!(key_to_b64(&wrong), s(w, "reconstructed_key_b64"));
    assert_eq!(
        share_cipher::decrypt(&wrong, s(&v, "ciphertext_b64")).unwrap_err(),
        CipherError::Authentication
    );
}

#[test]
fn invalid_parts() {
    let v = vectors();
    let db = s(&v, "db_part_b64");
    let cases = v["invalid_parts"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let expected = [
        InvalidPart::EncryptionPartEncoding,
        InvalidPart::EncryptionPartCoordinate,
    ];
    for (case, want) in cases.iter().zip(expected) {
        let part = s(case, "encryption_part_b64");
        assert_eq!(
            shamir::combine(db, part).unwrap_err(),
            want,
            "{}",
            s(case, "reason")
        );
        let kcv = s(&v["key_check"], "kcv_b64");
        assert_eq!(project_key(db, part, Some(kcv)).unwrap_err(), want);
        assert_eq!(project_key(db, part, None).unwrap_err(), want);
    }
}

#[test]
fn api_secret_vector() {
    let v = vectors();
    let a = &v["api_secret"];
    let secret = s(a, "api_secret");
    let stored = s(a, "stored_sha256_hex");
    assert_eq!(api_secret::digest_hex(secret).unwrap(), stored);
    assert!(api_secret::verify(secret, stored));
    // Either hex case is accepted (docs/shield.md, "Design: authentication").
    assert!(api_secret::verify(&secret.to_ascii_uppercase(), stored));
}
