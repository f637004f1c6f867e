//! docs/guardian.md, "Design: tokens", "Design: keys", "Design: signing routes": tokens, key storage and the signing routes, natively.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guardian_core::recover_address;
use guest_kit::{Db, Request};
use keyward_test_kit::scenarios::guardian::{ADDR0, ADDR2, assert_signed_tx, vector};
use serde_json::{Value, json};

const RAW: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";

#[test]
fn hardhat_vectors_over_every_route() {
    let (h, mut t) = Harness::hardhat();
    let mut post = |path: &str, body: Value| chained(&h, &mut t, "POST", path, Some(body));
    // /sign, indices 0 and 2.
    for name in ["hardhat-0-sign", "hardhat-2-sign"] {
        let v = vector(name);
        let body = json!({"raw_data": v["raw_data"], "address_index": v["address_index"]});
        assert_eq!(post("/guardian/sign", body)["signature"], v["signature"]);
    }
    let v = vector("hardhat-0-eip191-hello");
    let j = post("/guardian/sign-message", json!({"message": "hello"}));
    assert_eq!(j["signature"], v["signature"]);
    assert_eq!(j["message_hash"], v["message_hash"]);
    assert_eq!(j["address"], ADDR0);
    let hex = json!({"message": "0x68656c6c6f", "encoding": "hex"});
    assert_eq!(
        post("/guardian/sign-message", hex)["signature"],
        v["signature"]
    );
    for name in ["hardhat-0-eip155", "hardhat-2-eip1559"] {
        let v = vector(name);
        let j = post("/guardian/sign-tx", v["request"].clone());
        assert_signed_tx(&j, &v);
    }
    let v = vector("hardhat-0-eip712-mail");
    let j = post(
        "/guardian/sign-typed-data",
        json!({"typed_data": v["typed_data"]}),
    );
    assert_eq!(j["signature"], v["signature"]);
    assert_eq!(j["digest"], v["digest"]);
    let mut get = |path: &str| chained(&h, &mut t, "GET", path, None);
    let j = get("/guardian/address?address_index=2");
    assert_eq!(j["address"], ADDR2);
    assert_eq!(j["address_index"], 2);
    assert_eq!(get("/guardian/sign")["public_address"], ADDR0);
    assert_eq!(get("/guardian/address")["address"], ADDR0);
}

#[test]
fn tokens_are_single_use_and_fresh_tokens_chain() {
    let (h, t) = Harness::hardhat();
    let r = h.call("POST", "/guardian/sign", &t, Some(json!({"raw_data": RAW})));
    assert_eq!(r.status, 200);
    let sig = json(&r)["signature"].as_str().expect("sig").to_owned();
    assert_eq!(sig.len(), 132);
    assert!(sig.ends_with("00") || sig.ends_with("01"));
    let digest: [u8; 32] = guardian_core::hex::decode_fixed(RAW).expect("hex");
    let sig_bytes = guardian_core::hex::decode(&sig).expect("hex");
    assert_eq!(
        recover_address(&digest, &sig_bytes)
            .expect("recover")
            .to_checksum(),
        ADDR0
    );
    let f = fresh(&r);
    assert_eq!(f.len(), 43);
    // Spent.
    let again = h.call("POST", "/guardian/sign", &t, Some(json!({"raw_data": RAW})));
    let j = assert_error(&again, 401, "AUTH_INVALID");
    assert!(j.get("fresh_client_token").is_none());
    // The fresh token works exactly once.
    assert_eq!(h.call("GET", "/guardian/sign", &f, None).status, 200);
    assert_error(
        &h.call("GET", "/guardian/sign", &f, None),
        401,
        "AUTH_INVALID",
    );
    // Stored only as digests.
    let rows =
        h.db.execute("SELECT token_hash FROM gd_token", &[])
            .expect("rows");
    for row in rows.iter() {
        assert_eq!(row.text(0).expect("hash").len(), 64);
        assert_ne!(row.text(0), Some(f.as_str()));
    }
}

#[test]
fn token_ttl_and_chain_bound() {
    let (h, t) = Harness::hardhat();
    h.advance_secs(901);
    assert_error(
        &h.call("GET", "/guardian/sign", &t, None),
        401,
        "AUTH_INVALID",
    );

    // A chain ends token_chain_max_seconds after the login.
    h.set_var("token_chain_max_seconds", "2000");
    let mut t = h.okta_login_token("00uHARDHAT");
    for _ in 0..2 {
        h.advance_secs(800);
        let r = h.call("GET", "/guardian/sign", &t, None);
        assert_eq!(r.status, 200);
        t = fresh(&r);
    }
    // 1600 s into the chain: the fresh token expires at 2000 s, not 1600 + 900.
    h.advance_secs(401);
    assert_error(
        &h.call("GET", "/guardian/sign", &t, None),
        401,
        "AUTH_INVALID",
    );
}

#[test]
fn bad_input_gets_400_with_a_working_fresh_token() {
    let (h, mut t) = Harness::hardhat();
    let cases = [
        (json!({}), "MISSING_SIGN_DATA"),
        (json!({"raw_data": ""}), "MISSING_SIGN_DATA"),
        (json!({"raw_data": null}), "MISSING_SIGN_DATA"),
        (json!({"raw_data": "0x"}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "ab".repeat(31)}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "ab".repeat(33)}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "zz".repeat(32)}), "INVALID_RAW_DATA"),
        (json!({"raw_data": 5}), "INVALID_RAW_DATA"),
        (json!({"raw_data": RAW, "adress_index": 1}), "BAD_REQUEST"),
        (
            json!({"raw_data": RAW, "address_index": 2_147_483_648u64}),
            "INVALID_ADDRESS_INDEX",
        ),
        (
            json!({"raw_data": RAW, "address_index": -1}),
            "INVALID_ADDRESS_INDEX",
        ),
        (
            json!({"raw_data": RAW, "address_index": "abc"}),
            "INVALID_ADDRESS_INDEX",
        ),
        (json!([1]), "BAD_REQUEST"),
    ];
    for (body, code) in cases {
        let r = h.call("POST", "/guardian/sign", &t, Some(body.clone()));
        assert_error(&r, 400, code);
        t = fresh(&r);
    }
    let r = h.sign_req(
        Request::new("POST", "/guardian/sign")
            .with_header("authorization", format!("Bearer {t}"))
            .with_body("{not json"),
    );
    assert_error(&r, 400, "BAD_REQUEST");
    t = fresh(&r);
    for (q, code) in [
        ("?address_index=2147483648", 400),
        ("?address_index=-1", 400),
        ("?address_index=abc", 400),
        ("?address_index=1&address_index=2", 400),
        ("?address_index=2147483647", 200),
    ] {
        let r = h.call("GET", &format!("/guardian/address{q}"), &t, None);
        assert_eq!(r.status, code, "{q}");
        t = fresh(&r);
    }
    let r = h.call("GET", "/guardian/address?address_index=1", &t, None);
    assert_ne!(json(&r)["address"], ADDR0);
    t = fresh(&r);
    // sign-tx errors.
    for body in [
        json!({"gas_limit": 21000, "to": null}),
        json!({"nonce": 1, "gas_limit": 21000, "to": "0xcD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "data": "0x"}),
        json!({"nonce": 1, "gas_limit": 21000, "data": ""}),
        json!({"nonce": 1, "gas_limit": 21000, "to": "0x3535353535353535353535353535353535353535", "max_fee_per_gas": "1", "max_priority_fee_per_gas": "2"}),
        json!({"nonce": 1, "gas_limit": 21000, "to": "0x3535353535353535353535353535353535353535", "tx_type": 0, "access_list": [{"address": "0x3535353535353535353535353535353535353535", "storage_keys": []}]}),
        json!({"nonce": 1, "gas_limit": 21000, "to": "0x3535353535353535353535353535353535353535", "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639936"}),
    ] {
        let r = h.call("POST", "/guardian/sign-tx", &t, Some(body.clone()));
        assert_error(&r, 400, "INVALID_TX");
        t = fresh(&r);
    }
    let r = h.call(
        "POST",
        "/guardian/sign-tx",
        &t,
        Some(json!({"nonce": 1, "gas_limit": 21000, "to": "0x3535353535353535353535353535353535353535", "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639935"})),
    );
    assert_eq!(r.status, 200, "{}", json(&r));
    t = fresh(&r);
    let r = h.call(
        "POST",
        "/guardian/sign-message",
        &t,
        Some(json!({"message": "zz", "encoding": "hex"})),
    );
    assert_error(&r, 400, "INVALID_MESSAGE");
    t = fresh(&r);
    let mut mail = vector("hardhat-0-eip712-mail")["typed_data"].clone();
    mail["domain"]["chainId"] = json!("0x1".to_owned() + &"0".repeat(64));
    let r = h.call(
        "POST",
        "/guardian/sign-typed-data",
        &t,
        Some(json!({"typed_data": mail})),
    );
    assert_error(&r, 400, "INVALID_TYPED_DATA");
    t = fresh(&r);
    assert_eq!(h.call("GET", "/guardian/sign", &t, None).status, 200);
}

#[test]
fn headers_methods_sizes() {
    let (h, t) = Harness::hardhat();
    // Different tokens in both headers → 401, token untouched.
    let other = "A".repeat(43);
    let r = h.sign_req(
        Request::new("GET", "/guardian/sign")
            .with_header("authorization", format!("Bearer {t}"))
            .with_header("x-vault-token", &other),
    );
    assert_error(&r, 401, "AUTH_INVALID");
    // X-Vault-Token alone works like Bearer.
    let r = h.sign_req(Request::new("GET", "/guardian/sign").with_header("x-vault-token", &t));
    assert_eq!(r.status, 200);
    let t = fresh(&r);
    // 413 before the token is touched.
    let big = json!({"raw_data": "a".repeat(300_000)});
    let r = h.call("POST", "/guardian/sign", &t, Some(big));
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    // 405 with Allow, 404.
    let r = h.call("DELETE", "/guardian/sign", &t, None);
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert_error(&h.call("GET", "/guardian/nope", &t, None), 404, "NOT_FOUND");
    // A maintainer bearer is just an unknown token.
    h.set_var("admin_token", "admin-secret");
    assert_error(
        &h.call("GET", "/guardian/sign", "admin-secret", None),
        401,
        "AUTH_INVALID",
    );
    assert_error(
        &h.sign_req(Request::new("GET", "/guardian/sign")),
        401,
        "AUTH_INVALID",
    );
    assert_eq!(h.call("GET", "/guardian/sign", &t, None).status, 200);
}

#[test]
fn a_row_copied_to_another_user_fails_closed() {
    let h = Harness::new();
    h.insert_user("okta:00uA", HARDHAT, ADDR0);
    let t = h.okta_login_token("00uB");
    // 00uB got its own key; now overwrite its ciphertext with A's (as an attacker with DB access).
    h.db.execute(
        "UPDATE gd_user SET mnemonic_ct = (SELECT mnemonic_ct FROM gd_user WHERE user_id = 'okta:00uA') WHERE user_id = 'okta:00uB'",
        &[],
    )
    .expect("update");
    // As if B's key were stored before account keys were: its first use opens the mnemonic
    // (the copied account key itself: tests/keys.rs).
    h.db.execute(
        "DELETE FROM gd_signing_key WHERE user_id = 'okta:00uB'",
        &[],
    )
    .expect("delete");
    let r = h.call("POST", "/guardian/sign", &t, Some(json!({"raw_data": RAW})));
    let j = assert_error(&r, 500, "KEY_UNAVAILABLE");
    // A server error rolls the request's transaction back: the token is not spent, so no fresh
    // token is handed out (it was never stored) and the same token is refused the same way.
    assert!(j.get("fresh_client_token").is_none());
    let r = h.call("POST", "/guardian/sign", &t, Some(json!({"raw_data": RAW})));
    assert_error(&r, 500, "KEY_UNAVAILABLE");
}

#[test]
fn master_key_missing_is_503() {
    let (h, t) = Harness::hardhat();
    h.unset_var("master_key");
    assert_error(
        &h.call("GET", "/guardian/sign", &t, None),
        503,
        "NOT_CONFIGURED",
    );
    let r = h.login(json!({"okta_username": "a", "okta_password": "b"}));
    assert_error(&r, 503, "NOT_CONFIGURED");
    h.set_var("master_key", "c2hvcnQ=");
    assert_error(
        &h.call("GET", "/guardian/sign", &t, None),
        503,
        "NOT_CONFIGURED",
    );
}
