//! End-to-end verification tests with the `test-signer` keys and the PEM fixtures.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use jwt_verify::test_signer::{TestSigner, encode_token, hs256_token, jwks_json};
use jwt_verify::{
    Algorithm, Curve, Error, IatCheck, Jwks, KeyError, KeyKind, KeyType, Keys, PublicKey,
    Validation, looks_like_jwt, verify,
};
use serde_json::{Value, json};

const NOW: u64 = 1_800_000_000;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("fixture")
}

fn claims() -> Value {
    json!({"sub": "user-1", "exp": NOW + 300, "iat": NOW - 10, "email": "a@example.com"})
}

fn jwks_of(signers: &[&TestSigner]) -> Jwks {
    Jwks::parse(jwks_json(signers).as_bytes()).expect("jwks")
}

fn shield() -> Validation {
    Validation::default()
}

fn oidc() -> Validation {
    Validation::oidc_id_token("https://idp.example", "client-1")
}

fn oidc_claims() -> Value {
    json!({"iss": "https://idp.example", "aud": "client-1", "sub": "s-1",
           "iat": NOW - 5, "exp": NOW + 600})
}

/// Replaces one part of a token.
fn with_part(token: &str, idx: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[idx] = part;
    parts.join(".")
}

fn b64u(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn every_algorithm_verifies_in_jwks_mode() {
    for alg in Algorithm::ALL {
        let signer = TestSigner::new(alg, format!("kid-{alg}"));
        let jwks = jwks_of(&[&signer]);
        assert_eq!(jwks.keys().len(), 1, "{alg}");
        let token = signer.sign(&claims());
        let v = verify(&token, Keys::Jwks(&jwks), &shield(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(v.sub, "user-1");
        assert_eq!(v.header.alg, alg);
        assert_eq!(v.header.kid.as_deref(), Some(format!("kid-{alg}").as_str()));
        assert_eq!(v.claims["email"], "a@example.com");
    }
}

#[test]
fn every_algorithm_verifies_in_pem_mode() {
    for alg in Algorithm::ALL {
        let signer = TestSigner::new(alg, "k");
        let key = PublicKey::from_pem(&signer.public_pem(), signer.key_type())
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let token = signer.sign(&claims());
        let v = verify(&token, Keys::Key(&key), &shield(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(v.sub, "user-1");
    }
}

#[test]
fn signature_by_another_key_is_rejected() {
    for alg in Algorithm::ALL {
        let good = TestSigner::new(alg, "k");
        let other = TestSigner::alt(alg, "k");
        let jwks = jwks_of(&[&good]);
        let token = other.sign(&claims());
        assert_eq!(
            verify(&token, Keys::Jwks(&jwks), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature,
            "{alg}"
        );
    }
}

#[test]
fn tampered_payload_and_signature_are_rejected() {
    for alg in Algorithm::ALL {
        let signer = TestSigner::new(alg, "k");
        let key = PublicKey::from_pem(&signer.public_pem(), signer.key_type()).unwrap();
        let token = signer.sign(&claims());
        let mut forged = claims();
        forged["sub"] = json!("admin");
        let t = with_part(&token, 1, &b64u(forged.to_string().as_bytes()));
        assert_eq!(
            verify(&t, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature
        );

        let sig_b64 = token.rsplit('.').next().unwrap();
        let mut sig = base64_decode(sig_b64);
        sig[5] ^= 0x01;
        let t = with_part(&token, 2, &b64u(&sig));
        assert_eq!(
            verify(&t, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature,
            "{alg}"
        );

        sig.push(0);
        let t = with_part(&token, 2, &b64u(&sig));
        assert_eq!(
            verify(&t, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature,
            "{alg}"
        );

        let t = with_part(&token, 2, "");
        assert_eq!(
            verify(&t, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature,
            "{alg}"
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn certificates_and_pkcs1_fixtures() {
    let rs = TestSigner::new(Algorithm::RS256, "k");
    let ps = TestSigner::new(Algorithm::PS512, "k");
    for name in [
        "rsa2048-a.cert.pem",
        "rsa2048-a.pub.pem",
        "rsa2048-a.pkcs1.pem",
    ] {
        let key = PublicKey::from_pem(&fixture(name), KeyType::Rsa).expect(name);
        assert_eq!(key.kind(), KeyKind::Rsa { bits: 2048 });
        for s in [&rs, &ps] {
            verify(&s.sign(&claims()), Keys::Key(&key), &shield(), NOW).expect(name);
        }
        // An RSA key never verifies ECDSA or EdDSA.
        let es = TestSigner::new(Algorithm::ES256, "k").sign(&claims());
        assert_eq!(
            verify(&es, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::AlgorithmKeyMismatch
        );
    }
    for (name, alg, kt, kind) in [
        (
            "ec-p256-a.cert.pem",
            Algorithm::ES256,
            KeyType::Ecdsa,
            KeyKind::Ec(Curve::P256),
        ),
        (
            "ec-p384-a.cert.pem",
            Algorithm::ES384,
            KeyType::Ecdsa,
            KeyKind::Ec(Curve::P384),
        ),
        (
            "ec-p521-a.cert.pem",
            Algorithm::ES512,
            KeyType::Ecdsa,
            KeyKind::Ec(Curve::P521),
        ),
        (
            "ed25519-a.cert.pem",
            Algorithm::EdDSA,
            KeyType::Ed25519,
            KeyKind::Ed25519,
        ),
    ] {
        let key = PublicKey::from_pem(&fixture(name), kt).expect(name);
        assert_eq!(key.kind(), kind);
        let token = TestSigner::new(alg, "k").sign(&claims());
        verify(&token, Keys::Key(&key), &shield(), NOW).expect(name);
        let other = TestSigner::alt(alg, "k").sign(&claims());
        assert_eq!(
            verify(&other, Keys::Key(&key), &shield(), NOW).unwrap_err(),
            Error::InvalidSignature
        );
    }
}

#[test]
fn pem_errors() {
    let rsa_pem = fixture("rsa2048-a.pub.pem");
    for (file, key_type, want) in [
        (
            "rsa2048-a.pub.pem",
            KeyType::Ecdsa,
            KeyError::KeyTypeMismatch,
        ),
        (
            "rsa2048-a.pub.pem",
            KeyType::Ed25519,
            KeyError::KeyTypeMismatch,
        ),
        (
            "ec-p256-a.cert.pem",
            KeyType::Rsa,
            KeyError::KeyTypeMismatch,
        ),
        // PKCS#1 is RSA-only.
        (
            "rsa2048-a.pkcs1.pem",
            KeyType::Ecdsa,
            KeyError::UnsupportedPemLabel,
        ),
        // A private key is not a public key.
        (
            "rsa2048-a.key.pem",
            KeyType::Rsa,
            KeyError::UnsupportedPemLabel,
        ),
    ] {
        let got = PublicKey::from_pem(&fixture(file), key_type).unwrap_err();
        assert_eq!(got, want, "{file} as {key_type:?}");
    }
    for bad in [
        "",
        "not a pem",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
    ] {
        assert!(PublicKey::from_pem(bad, KeyType::Rsa).is_err(), "{bad:?}");
        assert!(
            PublicKey::from_pem(bad, KeyType::Ed25519).is_err(),
            "{bad:?}"
        );
    }
    // Mismatched END label.
    let broken = rsa_pem.replace("END PUBLIC KEY", "END CERTIFICATE");
    assert_eq!(
        PublicKey::from_pem(&broken, KeyType::Rsa).unwrap_err(),
        KeyError::InvalidPem
    );
    // CRLF, surrounding text and unwrapped base64 are tolerated.
    let crlf = format!("issuer key:\r\n{}\r\n", rsa_pem.replace('\n', "\r\n"));
    PublicKey::from_pem(&crlf, KeyType::Rsa).expect("crlf");
    let body: String = rsa_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let one_line = format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----");
    PublicKey::from_pem(&one_line, KeyType::Rsa).expect("one line");
    // Errors never echo key material.
    let e = PublicKey::from_pem(&fixture("rsa2048-a.key.pem"), KeyType::Rsa)
        .unwrap_err()
        .to_string();
    assert!(!e.contains("MII"), "{e}");
}

#[test]
fn weak_rsa_key_is_rejected_at_verification() {
    let key = PublicKey::from_pem(&fixture("rsa1024.pub.pem"), KeyType::Rsa).expect("1024 parses");
    assert_eq!(key.kind(), KeyKind::Rsa { bits: 1024 });
    let token = TestSigner::new(Algorithm::RS256, "k").sign(&claims());
    assert_eq!(
        verify(&token, Keys::Key(&key), &shield(), NOW).unwrap_err(),
        Error::WeakKey
    );
    let lax = Validation {
        min_rsa_bits: 1024,
        ..shield()
    };
    assert_eq!(
        verify(&token, Keys::Key(&key), &lax, NOW).unwrap_err(),
        Error::InvalidSignature
    );
}

#[test]
fn none_and_hmac_are_rejected() {
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    let jwks = jwks_of(&[&signer]);
    let key = PublicKey::from_pem(&signer.public_pem(), KeyType::Rsa).unwrap();
    let n = base64_decode(signer.jwk()["n"].as_str().unwrap());
    let pem = signer.public_pem();
    let tokens = [
        encode_token(&json!({"alg": "none", "kid": "k1"}), &claims(), b""),
        encode_token(&json!({"alg": "None", "kid": "k1"}), &claims(), b""),
        encode_token(&json!({"kid": "k1"}), &claims(), b"x"),
        encode_token(&json!({"alg": 256, "kid": "k1"}), &claims(), b"x"),
        hs256_token(&n, &json!({"alg": "HS256", "kid": "k1"}), &claims()),
        hs256_token(
            pem.as_bytes(),
            &json!({"alg": "HS256", "kid": "k1"}),
            &claims(),
        ),
        hs256_token(
            signer.jwks_json().as_bytes(),
            &json!({"alg": "HS384", "kid": "k1"}),
            &claims(),
        ),
        hs256_token(b"k", &json!({"alg": "HS512", "kid": "k1"}), &claims()),
        encode_token(&json!({"alg": "rs256", "kid": "k1"}), &claims(), b"x"),
        encode_token(&json!({"alg": "ES256K", "kid": "k1"}), &claims(), b"x"),
    ];
    for t in &tokens {
        for keys in [Keys::Jwks(&jwks), Keys::Key(&key)] {
            assert_eq!(
                verify(t, keys, &shield(), NOW).unwrap_err(),
                Error::UnsupportedAlgorithm
            );
            assert_eq!(
                verify(t, keys, &oidc(), NOW).unwrap_err(),
                Error::UnsupportedAlgorithm
            );
        }
    }
    // A JWKS that advertises HS256 or holds a symmetric key contributes no key.
    let doc = json!({"keys": [
        {"kty": "oct", "k": b64u(b"secret"), "kid": "k1", "alg": "HS256"},
        {"kty": "RSA", "n": signer.jwk()["n"], "e": "AQAB", "kid": "k2", "alg": "HS256"},
    ]});
    assert!(
        Jwks::parse(doc.to_string().as_bytes())
            .unwrap()
            .keys()
            .is_empty()
    );
}

#[test]
fn algorithm_must_suit_the_key_and_the_jwk_alg() {
    let rs = TestSigner::new(Algorithm::RS256, "k1");
    let ps = TestSigner::new(Algorithm::PS256, "k1");
    // A token by `signer` against a JWKS of `key` (same kid) is refused for its algorithm.
    let mismatch = |signer: &TestSigner, key: &TestSigner| {
        let got = verify(
            &signer.sign(&claims()),
            Keys::Jwks(&jwks_of(&[key])),
            &shield(),
            NOW,
        );
        assert_eq!(
            got.unwrap_err(),
            Error::AlgorithmKeyMismatch,
            "{signer:?} vs {key:?}"
        );
    };
    // Same RSA key, JWK says RS256, token says PS256.
    mismatch(&ps, &rs);
    // Without a JWK alg, any RSA algorithm is fine.
    let mut jwk = rs.jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    let jwks = Jwks::parse(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
    verify(&ps.sign(&claims()), Keys::Jwks(&jwks), &shield(), NOW)
        .expect("PS256 with alg-less JWK");

    // Curve mismatch: ES384 token against a P-256 key (kid matches).
    let es256 = TestSigner::new(Algorithm::ES256, "e1");
    let es384 = TestSigner::new(Algorithm::ES384, "e1");
    mismatch(&es384, &es256);
    // PEM mode: RS256 against an ecdsa key, EdDSA against RSA, ES256 against Ed25519.
    let ec_key = PublicKey::from_pem(&es256.public_pem(), KeyType::Ecdsa).unwrap();
    let rsa_key = PublicKey::from_pem(&rs.public_pem(), KeyType::Rsa).unwrap();
    let ed = TestSigner::new(Algorithm::EdDSA, "d");
    let ed_key = PublicKey::from_pem(&ed.public_pem(), KeyType::Ed25519).unwrap();
    for (token, key) in [
        (rs.sign(&claims()), &ec_key),
        (ed.sign(&claims()), &rsa_key),
        (es256.sign(&claims()), &ed_key),
        (es384.sign(&claims()), &ec_key),
    ] {
        assert_eq!(
            verify(&token, Keys::Key(key), &shield(), NOW).unwrap_err(),
            Error::AlgorithmKeyMismatch
        );
    }
    // A JWK whose alg contradicts its key is dropped at parse time.
    let mut bad = es256.jwk();
    bad["alg"] = json!("RS256");
    assert!(
        Jwks::parse(json!({"keys": [bad]}).to_string().as_bytes())
            .unwrap()
            .keys()
            .is_empty()
    );
}

#[test]
fn allow_list_restricts_algorithms() {
    let jwks_for = |s: &TestSigner| jwks_of(&[s]);
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let s = TestSigner::new(alg, "k");
        verify(
            &s.sign(&oidc_claims()),
            Keys::Jwks(&jwks_for(&s)),
            &oidc(),
            NOW,
        )
        .expect("oidc alg");
    }
    for alg in [
        Algorithm::PS256,
        Algorithm::RS512,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let s = TestSigner::new(alg, "k");
        assert_eq!(
            verify(
                &s.sign(&oidc_claims()),
                Keys::Jwks(&jwks_for(&s)),
                &oidc(),
                NOW
            )
            .unwrap_err(),
            Error::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn kid_selection() {
    let a = TestSigner::new(Algorithm::RS256, "a");
    let b = TestSigner::alt(Algorithm::RS256, "b");
    let e = TestSigner::new(Algorithm::ES256, "e");
    let jwks = jwks_of(&[&a, &b, &e]);
    assert_eq!(jwks.keys().len(), 3);
    assert!(jwks.find("b").is_some());
    verify(&a.sign(&claims()), Keys::Jwks(&jwks), &shield(), NOW).expect("a");
    verify(&b.sign(&claims()), Keys::Jwks(&jwks), &shield(), NOW).expect("b");

    // Unknown kid: distinct error, so callers refetch once.
    let c = TestSigner::new(Algorithm::RS256, "c");
    assert_eq!(
        verify(&c.sign(&claims()), Keys::Jwks(&jwks), &shield(), NOW).unwrap_err(),
        Error::UnknownKid
    );
    assert_eq!(
        verify(&c.sign(&oidc_claims()), Keys::Jwks(&jwks), &oidc(), NOW).unwrap_err(),
        Error::UnknownKid
    );
    // Key b under kid a: signature fails, not unknown.
    let b_as_a = TestSigner::alt(Algorithm::RS256, "a");
    assert_eq!(
        verify(&b_as_a.sign(&claims()), Keys::Jwks(&jwks), &shield(), NOW).unwrap_err(),
        Error::InvalidSignature
    );

    // No kid: shield requires one; OIDC falls back to the sole suitable key.
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let no_kid = e.sign_with_header(&header, &oidc_claims());
    assert_eq!(
        verify(&no_kid, Keys::Jwks(&jwks), &shield(), NOW).unwrap_err(),
        Error::MissingKid
    );
    verify(&no_kid, Keys::Jwks(&jwks), &oidc(), NOW).expect("sole EC key");
    let rs_no_kid = a.sign_with_header(&json!({"alg": "RS256"}), &oidc_claims());
    assert_eq!(
        verify(&rs_no_kid, Keys::Jwks(&jwks), &oidc(), NOW).unwrap_err(),
        Error::AmbiguousKey
    );
    let only_rsa = jwks_of(&[&a]);
    assert_eq!(
        verify(&no_kid, Keys::Jwks(&only_rsa), &oidc(), NOW).unwrap_err(),
        Error::UnknownKid
    );
    verify(&rs_no_kid, Keys::Jwks(&only_rsa), &oidc(), NOW).expect("sole RSA key");
    // A non-string kid is malformed.
    let t = a.sign_with_header(&json!({"alg": "RS256", "kid": 7}), &claims());
    assert_eq!(
        verify(&t, Keys::Jwks(&jwks), &shield(), NOW).unwrap_err(),
        Error::Malformed("header")
    );
    // PEM mode ignores kid.
    let key = PublicKey::from_pem(&a.public_pem(), KeyType::Rsa).unwrap();
    verify(&c.sign(&claims()), Keys::Key(&key), &shield(), NOW).expect("kid ignored in PEM mode");
    // Empty JWKS: unknown kid.
    let empty = Jwks::parse(br#"{"keys":[]}"#).unwrap();
    assert_eq!(
        verify(&a.sign(&claims()), Keys::Jwks(&empty), &shield(), NOW).unwrap_err(),
        Error::UnknownKid
    );
}

#[test]
fn exp_and_nbf_without_leeway() {
    let s = TestSigner::new(Algorithm::ES256, "k");
    let key = PublicKey::from_pem(&s.public_pem(), KeyType::Ecdsa).unwrap();
    let check = |c: Value| verify(&s.sign(&c), Keys::Key(&key), &shield(), NOW);
    check(json!({"sub": "u", "exp": NOW + 1})).expect("valid for one more second");
    assert_eq!(
        check(json!({"sub": "u", "exp": NOW})).unwrap_err(),
        Error::Expired
    );
    assert_eq!(
        check(json!({"sub": "u", "exp": NOW - 1000})).unwrap_err(),
        Error::Expired
    );
    check(json!({"sub": "u", "exp": NOW as f64 + 0.5})).expect("fractional exp");
    check(json!({"sub": "u"})).expect("exp optional for shield");
    check(json!({"sub": "u", "nbf": NOW})).expect("nbf now");
    assert_eq!(
        check(json!({"sub": "u", "nbf": NOW + 1})).unwrap_err(),
        Error::NotYetValid
    );
    assert_eq!(
        check(json!({"sub": "u", "exp": "soon"})).unwrap_err(),
        Error::InvalidClaim("exp")
    );
    assert_eq!(
        check(json!({"sub": "u", "nbf": null})).unwrap_err(),
        Error::InvalidClaim("nbf")
    );
    // shield ignores iat, iss and aud entirely.
    check(json!({"sub": "u", "iat": NOW + 10_000, "iss": 5, "aud": {}})).expect("ignored");
    // Huge values do not overflow.
    check(json!({"sub": "u", "exp": u64::MAX, "nbf": i64::MIN})).expect("extremes");
    check(json!({"sub": "u", "exp": 1e300})).expect("float extreme");
}

#[test]
fn oidc_claims_with_leeway() {
    let s = TestSigner::new(Algorithm::RS256, "k");
    let jwks = jwks_of(&[&s]);
    let v = oidc();
    let check = |f: &dyn Fn(&mut Value)| {
        let mut c = oidc_claims();
        f(&mut c);
        verify(&s.sign(&c), Keys::Jwks(&jwks), &v, NOW)
    };
    let ok = check(&|_| {}).expect("valid");
    assert_eq!(ok.sub, "s-1");
    // Each case: the claims it changes (`None` removes the claim), then the outcome.
    type Changes = Vec<(&'static str, Option<Value>)>;
    let cases: Vec<(Changes, Result<(), Error>)> = vec![
        // Time claims, with a minute's leeway.
        (vec![("exp", Some(json!(NOW - 59)))], Ok(())),
        (vec![("exp", Some(json!(NOW - 60)))], Err(Error::Expired)),
        (vec![("exp", None)], Err(Error::MissingClaim("exp"))),
        (vec![("nbf", Some(json!(NOW + 60)))], Ok(())),
        (
            vec![("nbf", Some(json!(NOW + 61)))],
            Err(Error::NotYetValid),
        ),
        (vec![("iat", Some(json!(NOW + 60)))], Ok(())),
        (
            vec![("iat", Some(json!(NOW + 61)))],
            Err(Error::IssuedInFuture),
        ),
        (vec![("iat", None)], Err(Error::MissingClaim("iat"))),
        // Issuer: exact match.
        (
            vec![("iss", Some(json!("https://idp.example/")))],
            Err(Error::WrongIssuer),
        ),
        (
            vec![("iss", Some(json!(["https://idp.example"])))],
            Err(Error::InvalidClaim("iss")),
        ),
        (vec![("iss", None)], Err(Error::MissingClaim("iss"))),
        // Audience: string or array; azp with several audiences.
        (
            vec![("aud", Some(json!("client-2")))],
            Err(Error::WrongAudience),
        ),
        (vec![("aud", Some(json!(["client-1"])))], Ok(())),
        (
            vec![("aud", Some(json!(["client-2"])))],
            Err(Error::WrongAudience),
        ),
        (
            vec![("aud", Some(json!(["client-1", "other"])))],
            Err(Error::MissingClaim("azp")),
        ),
        (
            vec![
                ("aud", Some(json!(["other", "client-1"]))),
                ("azp", Some(json!("client-1"))),
            ],
            Ok(()),
        ),
        (
            vec![
                ("aud", Some(json!(["client-1", "other"]))),
                ("azp", Some(json!("other"))),
            ],
            Err(Error::WrongAudience),
        ),
        (
            vec![("aud", Some(json!(["client-1", 3])))],
            Err(Error::InvalidClaim("aud")),
        ),
        (
            vec![("aud", Some(json!(1)))],
            Err(Error::InvalidClaim("aud")),
        ),
        (vec![("aud", None)], Err(Error::MissingClaim("aud"))),
        // Expired and wrong issuer: the non-expiry failure wins (ID_TOKEN_INVALID).
        (
            vec![("exp", Some(json!(NOW - 1000))), ("iss", Some(json!("x")))],
            Err(Error::WrongIssuer),
        ),
    ];
    for (changes, want) in cases {
        let got = check(&|c| {
            for (claim, value) in &changes {
                match value {
                    Some(v) => c[*claim] = v.clone(),
                    None => {
                        c.as_object_mut().unwrap().remove(*claim);
                    }
                }
            }
        });
        assert_eq!(got.map(|_| ()), want, "{changes:?}");
    }
    // IatCheck::NotInFuture tolerates a missing iat.
    let lax = Validation {
        iat: IatCheck::NotInFuture,
        ..oidc()
    };
    let mut c = oidc_claims();
    c.as_object_mut().unwrap().remove("iat");
    verify(&s.sign(&c), Keys::Jwks(&jwks), &lax, NOW).expect("iat optional");
}

#[test]
fn sub_must_be_a_non_empty_string() {
    let s = TestSigner::new(Algorithm::EdDSA, "k");
    let jwks = jwks_of(&[&s]);
    let check = |c: Value| verify(&s.sign(&c), Keys::Jwks(&jwks), &shield(), NOW);
    assert_eq!(
        check(json!({"exp": NOW + 5})).unwrap_err(),
        Error::MissingClaim("sub")
    );
    assert_eq!(
        check(json!({"sub": ""})).unwrap_err(),
        Error::InvalidClaim("sub")
    );
    assert_eq!(
        check(json!({"sub": 42})).unwrap_err(),
        Error::InvalidClaim("sub")
    );
    assert_eq!(
        check(json!({"sub": null})).unwrap_err(),
        Error::InvalidClaim("sub")
    );
    assert_eq!(check(json!({"sub": "x"})).unwrap().sub, "x");
}

#[test]
fn malformed_tokens() {
    let s = TestSigner::new(Algorithm::ES256, "k");
    let jwks = jwks_of(&[&s]);
    let token = s.sign(&claims());
    let run = |t: &str| verify(t, Keys::Jwks(&jwks), &shield(), NOW).unwrap_err();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, sig) = rest.split_once('.').unwrap();
    assert_eq!(run(""), Error::Malformed("token"));
    assert_eq!(run(&format!("{h}.{p}")), Error::Malformed("token"));
    assert_eq!(run(&format!("{token}.")), Error::Malformed("token"));
    assert_eq!(
        run(&format!("{h}.{p}.{sig}.{sig}")),
        Error::Malformed("token")
    );
    assert_eq!(run(&format!("{h}!.{p}.{sig}")), Error::Malformed("header"));
    assert_eq!(run(&format!("{h}=.{p}.{sig}")), Error::Malformed("header"));
    assert_eq!(run(&format!("{h}.{p}*.{sig}")), Error::Malformed("payload"));
    assert_eq!(
        run(&format!("{h}.{p}.{sig}=")),
        Error::Malformed("signature")
    );
    assert_eq!(
        run(&format!("{h}.{p}.{sig}+")),
        Error::Malformed("signature")
    );
    assert_eq!(
        run(&format!("{}.{p}.{sig}", b64u(b"not json"))),
        Error::Malformed("header")
    );
    assert_eq!(
        run(&format!("{}.{p}.{sig}", b64u(b"[\"ES256\"]"))),
        Error::Malformed("header")
    );
    assert_eq!(run(&format!(".{p}.{sig}")), Error::Malformed("header"));
    // A correctly signed payload that is not a JSON object.
    let header = b64u(json!({"alg": "ES256", "kid": "k"}).to_string().as_bytes());
    for payload in [&b"not json"[..], b"[1,2]", b"\"sub\"", b""] {
        let input = format!("{header}.{}", b64u(payload));
        let t = format!("{input}.{}", b64u(&s.signature(input.as_bytes())));
        assert_eq!(run(&t), Error::Malformed("payload"));
    }
    // crit is never understood.
    let t = s.sign_with_header(
        &json!({"alg": "ES256", "kid": "k", "crit": ["exp"], "exp": 1}),
        &claims(),
    );
    assert_eq!(run(&t), Error::CritUnsupported);
    // Too long.
    let big = s.sign(&json!({"sub": "u", "pad": "x".repeat(17_000)}));
    assert_eq!(run(&big), Error::TooLong);
    // Header jwk/jku/x5u are never used as keys.
    let other = TestSigner::alt(Algorithm::ES256, "k");
    let t = other.sign_with_header(
        &json!({"alg": "ES256", "kid": "k", "jwk": other.jwk()}),
        &claims(),
    );
    assert_eq!(run(&t), Error::InvalidSignature);
}

#[test]
fn no_panic_on_mutated_tokens() {
    for alg in [Algorithm::RS256, Algorithm::ES512, Algorithm::EdDSA] {
        let s = TestSigner::new(alg, "k");
        let jwks = jwks_of(&[&s]);
        let token = s.sign(&claims());
        let bytes = token.as_bytes();
        for i in (0..bytes.len()).step_by(3) {
            for replacement in [b'A', b'.', b'_', b'='] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[i] = replacement;
                let m = String::from_utf8(m).unwrap();
                assert!(
                    verify(&m, Keys::Jwks(&jwks), &shield(), NOW).is_err(),
                    "{alg} {i}"
                );
            }
            assert!(verify(&token[..i], Keys::Jwks(&jwks), &shield(), NOW).is_err());
        }
        let mut multibyte = token.clone();
        multibyte.insert(3, 'é');
        assert!(verify(&multibyte, Keys::Jwks(&jwks), &shield(), NOW).is_err());
    }
}

#[test]
fn jwks_parsing() {
    let rs = TestSigner::new(Algorithm::RS256, "r");
    let es = TestSigner::new(Algorithm::ES512, "e");
    let ed = TestSigner::new(Algorithm::EdDSA, "d");
    let mut enc = rs.jwk();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc");
    let mut ops = es.jwk();
    ops["key_ops"] = json!(["encrypt"]);
    let mut no_meta = ed.jwk();
    for f in ["kid", "alg", "use"] {
        no_meta.as_object_mut().unwrap().remove(f);
    }
    let doc = json!({"keys": [
        rs.jwk(), es.jwk(), no_meta, enc, ops,
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": es.jwk()["x"], "y": es.jwk()["y"]},
        {"kty": "EC", "crv": "P-256", "x": b64u(&[1; 32]), "y": b64u(&[2; 32])},
        {"kty": "OKP", "crv": "X25519", "x": b64u(&[9; 32])},
        {"kty": "OKP", "crv": "Ed25519", "x": b64u(&[9; 31])},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": rs.jwk()["n"], "e": ""},
        {"kty": "RSA", "n": rs.jwk()["n"], "e": "AQAB", "kid": 5},
        {"kty": "RSA", "n": rs.jwk()["n"], "e": "AQAB", "alg": "XX"},
        "not an object", 7, null,
    ]});
    let jwks = Jwks::parse(doc.to_string().as_bytes()).unwrap();
    let kinds: Vec<_> = jwks
        .keys()
        .iter()
        .map(|k| (k.kid.clone(), k.alg, k.key.kind()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                Some("r".into()),
                Some(Algorithm::RS256),
                KeyKind::Rsa { bits: 2048 }
            ),
            (
                Some("e".into()),
                Some(Algorithm::ES512),
                KeyKind::Ec(Curve::P521)
            ),
            (None, None, KeyKind::Ed25519),
        ]
    );
    for bad in [
        &b""[..],
        b"[]",
        b"{}",
        b"{\"keys\": {}}",
        b"not json",
        b"{\"keys\": [}",
    ] {
        assert_eq!(Jwks::parse(bad).unwrap_err(), KeyError::InvalidJwks);
    }
    // An EdDSA token without kid verifies against the kid-less key in OIDC-style selection.
    let v = Validation {
        require_kid: false,
        ..Validation::default()
    };
    let t = ed.sign_with_header(&json!({"alg": "EdDSA"}), &claims());
    verify(&t, Keys::Jwks(&jwks), &v, NOW).expect("kid-less Ed25519");
    // Padded or leading-zero JWK parameters: leading zeros in n are fine, padding is not.
    let mut padded = rs.jwk();
    padded["n"] = json!(format!("{}=", padded["n"].as_str().unwrap()));
    assert!(PublicKey::from_jwk(&padded).is_err());
    let mut zero = rs.jwk();
    let mut n = vec![0u8];
    n.extend(base64_decode(zero["n"].as_str().unwrap()));
    zero["n"] = json!(b64u(&n));
    assert_eq!(
        PublicKey::from_jwk(&zero).unwrap().kind(),
        KeyKind::Rsa { bits: 2048 }
    );
}

#[test]
fn signing_input_digest_is_stable_across_ecdsa_malleation() {
    // (r, n - s) is also a valid ECDSA signature: a replay cache must key on the signing input.
    let s = TestSigner::new(Algorithm::ES256, "k");
    let jwks = jwks_of(&[&s]);
    let token = s.sign(&claims());
    let (input, sig64) = token.rsplit_once('.').unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&base64_decode(sig64)).unwrap();
    let (r, s_scalar) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s_scalar).unwrap();
    let other = format!("{input}.{}", b64u(&flipped.to_bytes()));
    assert_ne!(other, token);
    let a = verify(&token, Keys::Jwks(&jwks), &shield(), NOW).unwrap();
    let b = verify(&other, Keys::Jwks(&jwks), &shield(), NOW).unwrap();
    assert_eq!(a.signing_input_sha256, b.signing_input_sha256);
}

#[test]
fn looks_like_jwt_shapes() {
    let t = TestSigner::new(Algorithm::ES256, "k").sign(&claims());
    assert!(looks_like_jwt(&t));
    assert!(looks_like_jwt("a.b.c"));
    assert!(looks_like_jwt("ab==.cd=.ef"));
    for bad in [
        "",
        "a.b",
        "a..c",
        "a.b.c.d",
        "a.b.c d",
        "a+b.c.d",
        "a.b.c===",
        "=.b.c",
        "opaque-session-token",
    ] {
        assert!(!looks_like_jwt(bad), "{bad}");
    }
}

#[test]
fn algorithm_and_key_type_names() {
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
    }
    for n in ["none", "HS256", "rs256", ""] {
        assert_eq!(Algorithm::from_name(n), None);
    }
    for kt in [KeyType::Rsa, KeyType::Ecdsa, KeyType::Ed25519] {
        assert_eq!(KeyType::from_name(kt.name()), Some(kt));
    }
    assert_eq!(KeyType::from_name("RSA"), None);
    let key = PublicKey::from_pem(&fixture("rsa2048-a.pub.pem"), KeyType::Rsa).unwrap();
    let debug = format!("{key:?}");
    assert_eq!(debug, "PublicKey { kind: Rsa { bits: 2048 } }");
}
