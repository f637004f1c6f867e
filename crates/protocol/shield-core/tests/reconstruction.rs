//! The split and every reconstruction rule and rejection (docs/shield.md, "Design: the project
//! key"), plus the share cipher's errors.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use shield_core::shamir::{self, DB_PART_X, ENCRYPTION_PART_X, PART_B64_LEN, gf_mul};
use shield_core::share_cipher::{self, CipherError};
use shield_core::{
    InvalidPart, KEY_LEN, Key, generate_project_key, key_check_value, project_key, verify_key_check,
};

const K_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const DB: &str = "AaWtsbnFzcnR1e3h+fUNCQEFDTE5JS0pUVVNQXl1bWlh";
const PART: &str = "AlFCf2ydjoOwqdrH9OUNABM6KVRHdmVom4KxrN/O/fDj";
const LEGACY_DB: &str = "pa2xucXNydHV7eH59Q0JAQUNMTklLSlRVU1BeXVtaWE=";
const LEGACY_PART: &str = "UUJ/bJ2Og7Cp2sf05Q0AEzopVEd2ZWibgrGs38798OM=";
const KCV: &str = "KeQHaEJnOvfJmf1Z2OaOe1YpM+dzpBFiGIE5eKS7N7k=";
const COEFFS: &str = "a5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e";

fn k() -> Key {
    Key::from_bytes(STANDARD.decode(K_B64).unwrap().try_into().unwrap())
}

fn raw(b64: &str) -> Vec<u8> {
    STANDARD.decode(b64).unwrap()
}

fn enc(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `[x] || p_i(x)` for the vector polynomial, at any x.
fn part_at(x: u8) -> String {
    let key = k();
    let coeffs = hex::decode(COEFFS).unwrap();
    let mut out = vec![x];
    out.extend(
        key.as_bytes()
            .iter()
            .zip(&coeffs)
            .map(|(k, a)| k ^ gf_mul(*a, x)),
    );
    enc(&out)
}

#[test]
fn part_at_matches_split() {
    assert_eq!(part_at(DB_PART_X), DB);
    assert_eq!(part_at(ENCRYPTION_PART_X), PART);
}

#[test]
fn random_split_round_trips() {
    for _ in 0..200 {
        let key = Key::generate().unwrap();
        let split = shamir::split(&key).unwrap();
        assert_eq!(split.db_part.len(), PART_B64_LEN);
        assert_eq!(split.encryption_part.len(), PART_B64_LEN);
        assert_eq!(raw(&split.db_part)[0], DB_PART_X);
        assert_eq!(raw(&split.encryption_part)[0], ENCRYPTION_PART_X);
        let kcv = key_check_value(&key);
        let back = project_key(&split.db_part, &split.encryption_part, Some(&kcv)).unwrap();
        assert!(back == key);
    }
}

#[test]
fn splits_are_randomised() {
    let key = k();
    let a = shamir::split(&key).unwrap();
    let b = shamir::split(&key).unwrap();
    assert_ne!(a.db_part.as_str(), b.db_part.as_str());
    assert_ne!(a.encryption_part.as_str(), b.encryption_part.as_str());
}

#[test]
fn zero_coefficients_are_allowed() {
    // a_i = 0 is legal (docs/shield.md, "Design: the project key"): every part then equals the key bytes behind its x.
    let key = k();
    let split = shamir::split_with_coefficients(&key, &[0u8; KEY_LEN]);
    assert_eq!(&raw(&split.db_part)[1..], key.as_bytes());
    assert!(shamir::combine(&split.db_part, &split.encryption_part).unwrap() == key);
}

#[test]
fn generate_project_key_is_consistent() {
    let new = generate_project_key().unwrap();
    let key = project_key(&new.db_part, &new.encryption_part, Some(&new.key_check)).unwrap();
    assert_eq!(key_check_value(&key), new.key_check);
    let shown = format!("{new:?}");
    assert!(!shown.contains(new.db_part.as_str()));
    assert!(!shown.contains(new.encryption_part.as_str()));
}

// ---- docs/shield.md, "Design: the project key" step 1: base64std decode ----

#[test]
fn step1_rejects_bad_encryption_part_encodings() {
    let truncated = &PART[..43];
    let unpadded = STANDARD_NO_PAD.encode(raw(LEGACY_PART));
    let url_safe = URL_SAFE.encode(raw(PART)); // contains '_' or '-' for this part
    assert_ne!(url_safe, PART);
    let spaced = format!(" {PART}");
    let newline = format!("{}\n{}", &PART[..20], &PART[20..]);
    // Non-canonical: last char of a 32-byte legacy encoding with non-zero trailing bits.
    let mut noncanonical = LEGACY_PART.to_owned();
    noncanonical.replace_range(42..43, "N");
    for bad in [
        "",
        "!!!!",
        truncated,
        &unpadded,
        &url_safe,
        &spaced,
        &newline,
        &noncanonical,
    ] {
        assert_eq!(
            shamir::combine(DB, bad).unwrap_err(),
            if bad.is_empty() {
                InvalidPart::EncryptionPartLength
            } else {
                InvalidPart::EncryptionPartEncoding
            },
            "{bad:?}"
        );
        assert!(project_key(DB, bad, Some(KCV)).is_err());
    }
}

#[test]
fn step1_rejects_bad_db_part_encoding() {
    assert_eq!(
        shamir::combine("not base64!", PART).unwrap_err(),
        InvalidPart::DbPartEncoding
    );
    assert!(InvalidPart::DbPartEncoding.is_db_part_fault());
    assert!(!InvalidPart::EncryptionPartEncoding.is_db_part_fault());
}

// ---- docs/shield.md, "Design: the project key" step 2: legacy 32-byte parts ----

#[test]
fn step2_legacy_parts_in_every_combination() {
    for (db, part) in [
        (DB, PART),
        (LEGACY_DB, PART),
        (DB, LEGACY_PART),
        (LEGACY_DB, LEGACY_PART),
    ] {
        let key = project_key(db, part, Some(KCV)).unwrap();
        assert!(key == k(), "{db} + {part}");
    }
}

#[test]
fn step2_legacy_part_is_always_x2() {
    // A 32-byte encryption part is read as x = 2 even when paired with a DB part at another x:
    // with the DB part moved to x = 3 the legacy part still reconstructs K.
    let key = shamir::combine(&part_at(3), LEGACY_PART).unwrap();
    assert!(key == k());
}

// ---- docs/shield.md, "Design: the project key" step 3 (kw): length 33 and x ∉ {0, x_D} ----

#[test]
fn step3_rejects_wrong_lengths() {
    let full = raw(PART);
    let cases = [
        full[..31].to_vec(),                         // 31 bytes
        [full.clone(), vec![0]].concat(),            // 34 bytes: upstream would ignore the extra
        [full.clone(), full[1..].to_vec()].concat(), // 65 bytes
        vec![2],                                     // x only
        full[..1].to_vec(),
    ];
    for bytes in cases {
        assert_eq!(
            shamir::combine(DB, &enc(&bytes)).unwrap_err(),
            InvalidPart::EncryptionPartLength,
            "{} bytes",
            bytes.len()
        );
    }
}

#[test]
fn step3_rejects_x_zero_and_x_equal_to_db() {
    let mut zero = raw(PART);
    zero[0] = 0;
    assert_eq!(
        shamir::combine(DB, &enc(&zero)).unwrap_err(),
        InvalidPart::EncryptionPartCoordinate
    );
    // The DB part itself (x = 1) offered as encryption part.
    assert_eq!(
        shamir::combine(DB, DB).unwrap_err(),
        InvalidPart::EncryptionPartCoordinate
    );
    // Legacy DB part (x = 1 implied) with an x = 1 part.
    assert_eq!(
        shamir::combine(LEGACY_DB, DB).unwrap_err(),
        InvalidPart::EncryptionPartCoordinate
    );
    // x equal to a non-standard DB x.
    assert_eq!(
        shamir::combine(&part_at(7), &part_at(7)).unwrap_err(),
        InvalidPart::EncryptionPartCoordinate
    );
}

#[test]
fn db_part_of_wrong_length_is_rejected() {
    let full = raw(DB);
    for bytes in [
        full[..31].to_vec(),
        [full.clone(), vec![0]].concat(),
        vec![],
    ] {
        assert_eq!(
            shamir::combine(&enc(&bytes), PART).unwrap_err(),
            InvalidPart::DbPartLength
        );
    }
}

// ---- docs/shield.md, "Design: the project key" step 4: Lagrange at 0 for any distinct x ----

#[test]
fn step4_any_distinct_nonzero_x_reconstructs() {
    for x_d in [1u8, 2, 3, 0x80, 0xff] {
        for x_e in [1u8, 2, 3, 0x53, 0xfe, 0xff] {
            if x_e == x_d {
                continue;
            }
            let key = shamir::combine(&part_at(x_d), &part_at(x_e)).unwrap();
            assert!(key == k(), "x_d={x_d} x_e={x_e}");
        }
    }
    // Order of roles does not matter for the maths: E at x = 1, D at x = 2.
    assert!(shamir::combine(PART, DB).unwrap() == k());
}

#[test]
fn step4_tampered_part_yields_a_different_key() {
    let mut bytes = raw(PART);
    bytes[5] ^= 1;
    let key = shamir::combine(DB, &enc(&bytes)).unwrap();
    assert!(key != k());
}

// ---- docs/shield.md, "Design: the project key" step 5 (kw): key-check value ----

#[test]
fn step5_kcv_mismatch_is_rejected() {
    let mut bytes = raw(PART);
    bytes[5] ^= 1;
    let tampered = enc(&bytes);
    let err = project_key(DB, &tampered, Some(KCV)).unwrap_err();
    assert_eq!(err, InvalidPart::KeyCheckMismatch);
    assert_eq!(err.to_string(), InvalidPart::MESSAGE);
    // No stored KCV (imported project): upstream behaviour, the wrong key is returned.
    assert!(project_key(DB, &tampered, None).is_ok());
}

#[test]
fn step5_corrupt_stored_kcv_fails_closed() {
    for stored in [
        "",
        "garbage",
        &KCV[..40],
        "AAAA",
        &STANDARD.encode([0u8; 32]),
    ] {
        assert!(!verify_key_check(&k(), stored), "{stored:?}");
        assert_eq!(
            project_key(DB, PART, Some(stored)).unwrap_err(),
            InvalidPart::KeyCheckMismatch
        );
    }
    assert!(verify_key_check(&k(), KCV));
}

#[test]
fn errors_never_show_key_material() {
    let mut bytes = raw(PART);
    bytes[0] = 0;
    let err = shamir::combine(DB, &enc(&bytes)).unwrap_err();
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        err.reason().to_owned(),
    ] {
        assert!(!text.contains(PART) && !text.contains(DB) && !text.contains(K_B64));
    }
    assert_eq!(format!("{:?}", k()), "Key([REDACTED])");
}

// ---- docs/shield.md, "Design: share encryption" share cipher ----

#[test]
fn cipher_round_trip_with_random_nonces() {
    let key = k();
    let a = share_cipher::encrypt(&key, "my-share-secret").unwrap();
    let b = share_cipher::encrypt(&key, "my-share-secret").unwrap();
    assert_ne!(a, b, "nonces must differ");
    assert_eq!(raw(&a).len(), 12 + "my-share-secret".len() + 16);
    assert_eq!(
        share_cipher::decrypt(&key, &a).unwrap().as_str(),
        "my-share-secret"
    );
    let unicode = "clé ✓ 🔑";
    let c = share_cipher::encrypt(&key, unicode).unwrap();
    assert_eq!(share_cipher::decrypt(&key, &c).unwrap().as_str(), unicode);
    let empty = share_cipher::encrypt(&key, "").unwrap();
    assert_eq!(share_cipher::decrypt(&key, &empty).unwrap().as_str(), "");
}

#[test]
fn cipher_errors_never_panic() {
    let key = k();
    let good = share_cipher::encrypt(&key, "secret").unwrap();
    assert_eq!(
        share_cipher::decrypt(&key, "%%%").unwrap_err(),
        CipherError::Encoding
    );
    for len in [0usize, 1, 11, 12, 27] {
        assert_eq!(
            share_cipher::decrypt(&key, &enc(&vec![0u8; len])).unwrap_err(),
            CipherError::TooShort,
            "{len}"
        );
    }
    // 28 bytes: structurally fine, authentication fails.
    assert_eq!(
        share_cipher::decrypt(&key, &enc(&[0u8; 28])).unwrap_err(),
        CipherError::Authentication
    );
    let mut tampered = raw(&good);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(
        share_cipher::decrypt(&key, &enc(&tampered)).unwrap_err(),
        CipherError::Authentication
    );
    let other = Key::from_bytes([0x42; KEY_LEN]);
    assert_eq!(
        share_cipher::decrypt(&other, &good).unwrap_err(),
        CipherError::Authentication
    );
}

#[test]
fn cipher_rejects_non_utf8_plaintext() {
    let key = k();
    let data = share_cipher::encrypt_with_nonce(&key, &[7u8; 12], &[0xff, 0xfe, 0x80]).unwrap();
    assert_eq!(
        share_cipher::decrypt(&key, &data).unwrap_err(),
        CipherError::NotUtf8
    );
}

// ---- API secret / operator token ----

#[test]
fn api_secret_generation_and_rejections() {
    use shield_core::api_secret;
    let (secret, stored) = api_secret::generate().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert!(api_secret::verify(&secret, &stored));
    assert!(!api_secret::verify(&secret[..62], &stored));
    assert!(!api_secret::verify(
        &format!("{}00", secret.as_str()),
        &stored
    ));
    assert!(!api_secret::verify("zz", &stored));
    assert!(!api_secret::verify(&"0".repeat(64), &stored));
    assert!(api_secret::operator_token_matches("tok", "tok"));
    assert!(!api_secret::operator_token_matches("tok", "tok2"));
    assert!(!api_secret::operator_token_matches("", "tok"));
}
