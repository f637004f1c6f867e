//! guardian (docs/guardian.md, "Conformance checklist") end to end: the product spin.toml on the keyward host, a stub Okta
//! (Authentication API wire format) and a stub JWKS endpoint on loopback. Every signature and
//! signed transaction the host returns is also verified with alloy (an independent Ethereum
//! implementation): `alloy-primitives` (ECDSA recovery, EIP-191), `alloy-dyn-abi` (EIP-712) and
//! `alloy-consensus` (EIP-2718 decoding, transaction hash, signer recovery).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Signature};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, encode_token, hs256_token};
use keyward_e2e::db::ServiceDb;
use keyward_e2e::guardian::*;
use keyward_e2e::{Host, HostBuilder, Resp, TEST_MASTER_KEY, Value, json};
use keyward_test_kit::scenarios::guardian::{ADDR0, ADDR2, assert_signed_tx, vector};
use keyward_test_kit::scenarios::shield::assert_one_winner;
use keyward_test_kit::secrets::HARDHAT_MNEMONIC as HARDHAT;

/// guardian's database, on whichever backend this pass runs (embedded SQLite or PostgreSQL).
fn db(dir: &Path) -> ServiceDb {
    ServiceDb::open(dir, "guardian")
}

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).int(sql, &[])
}

/// Writes a `gd_user` row holding `mnemonic`, sealed as guardian seals it.
fn insert_user(dir: &Path, user_id: &str, mnemonic: &str, address0: &str) {
    let mut c = db(dir);
    for stmt in guardian_service::store::SCHEMA.statements {
        c.execute(stmt, &[]);
    }
    let master = envelope::MasterKey::parse(TEST_MASTER_KEY).expect("master");
    let sealer = envelope::Sealer::new(&master, b"keyward/guardian/mnemonic/v1").expect("sealer");
    let ct = sealer
        .seal(mnemonic.as_bytes(), user_id.as_bytes())
        .expect("seal");
    c.execute(
        "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?1, ?2, ?3, 0)",
        &[user_id.into(), ct.into(), address0.into()],
    );
}

/// Everything the deployment keeps at rest (state-directory files, or PostgreSQL rows and Redis
/// values).
fn state_bytes(dir: &Path) -> Vec<u8> {
    keyward_e2e::db::at_rest(dir)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ---- independent verification (alloy) ------------------------------------------------------

fn b256(hex_str: &str) -> B256 {
    hex_str.parse().expect("b256")
}

fn addr(s: &str) -> Address {
    s.parse().expect("address")
}

fn sig(hex_str: &str) -> Signature {
    let bytes = hex::decode(hex_str.trim_start_matches("0x")).expect("hex");
    Signature::from_raw(&bytes).expect("signature")
}

fn alloy_check_digest(signature: &str, digest: &str, expected: &str) {
    let got = sig(signature)
        .recover_address_from_prehash(&b256(digest))
        .expect("recover");
    assert_eq!(
        got,
        addr(expected),
        "alloy recovery of a raw-digest signature"
    );
}

fn alloy_check_message(signature: &str, message: &[u8], expected: &str) {
    let got = sig(signature)
        .recover_address_from_msg(message)
        .expect("recover");
    assert_eq!(got, addr(expected), "alloy EIP-191 recovery");
}

fn alloy_check_typed(signature: &str, typed: &Value, digest: &str, expected: &str) {
    let td: alloy_dyn_abi::TypedData = serde_json::from_value(typed.clone()).expect("typed data");
    let hash = td.eip712_signing_hash().expect("eip712 hash");
    assert_eq!(hash, b256(digest), "alloy EIP-712 digest");
    let got = sig(signature)
        .recover_address_from_prehash(&hash)
        .expect("recover");
    assert_eq!(got, addr(expected), "alloy EIP-712 recovery");
}

fn alloy_check_tx(raw: &str, tx_hash: &str, expected: &str) {
    let bytes = hex::decode(raw.trim_start_matches("0x")).expect("hex");
    let env = alloy_consensus::TxEnvelope::decode_2718(&mut bytes.as_slice()).expect("decode tx");
    assert_eq!(*env.tx_hash(), b256(tx_hash), "alloy transaction hash");
    assert_eq!(
        env.recover_signer().expect("signer"),
        addr(expected),
        "alloy signer"
    );
}

/// `POST /guardian/sign-tx` with `t`, expected to succeed: alloy decodes the signed
/// transaction, checks its hash and recovers `from`; `t` moves on to the fresh token.
#[track_caller]
fn sign_tx(h: &Host, t: &mut String, body: &Value, from: &str) -> Value {
    let r = post(h, "/guardian/sign-tx", Some(t), body);
    let j = r.json();
    assert_eq!(r.status, 200, "{j}");
    alloy_check_tx(
        j["signed_tx_rlp"].as_str().expect("rlp"),
        j["tx_hash"].as_str().expect("hash"),
        from,
    );
    *t = fresh(&r);
    j
}

/// The Hardhat user's Okta login at `path` (`/guardian` is the same handler as
/// `/guardian/login`), asking for the address.
fn hardhat_login(h: &Host, path: &str) -> Resp {
    let creds = json!({"okta_username": "hardhat", "okta_password": "pw", "get_address": true});
    post(h, path, None, &creds)
}

// ---- tests --------------------------------------------------------------------------------

/// docs/guardian.md, "Conformance checklist" items 2, 13, 16–24 (hardhat vectors), 27: a user written straight into the database
/// logs in through the stub Okta and every signing route reproduces the vectors; alloy agrees.
#[test]
fn hardhat_user_signs_every_vector_over_http() {
    let okta = okta_stub();
    let h = host(
        okta.port,
        1,
        &[("login_user_rate_limit_per_minute", "1000")],
    );
    insert_user(&h.state_dir, "okta:00uhardhat", HARDHAT, ADDR0);
    let r = hardhat_login(&h, "/guardian");
    assert_eq!(r.json()["created"], false);
    assert_eq!(r.json()["address"], ADDR0);
    let mut t = token_of(&r);

    for name in ["hardhat-0-sign", "hardhat-2-sign"] {
        let v = vector(name);
        let r = post(
            &h,
            "/guardian/sign",
            Some(&t),
            &json!({"raw_data": v["raw_data"], "address_index": v["address_index"]}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let s = r.json()["signature"].as_str().expect("sig").to_owned();
        assert_eq!(s, v["signature"].as_str().expect("vector"));
        assert_eq!(s.len(), 132);
        assert!(s.ends_with("00") || s.ends_with("01"));
        alloy_check_digest(
            &s,
            &format!("0x{}", v["raw_data"].as_str().expect("raw")),
            v["address"].as_str().expect("a"),
        );
        t = fresh(&r);
    }

    let v = vector("hardhat-0-eip191-hello");
    for body in [
        json!({"message": "hello"}),
        json!({"message": "0x68656c6c6f", "encoding": "hex"}),
    ] {
        let r = post(&h, "/guardian/sign-message", Some(&t), &body);
        let j = r.json();
        assert_eq!(j["signature"], v["signature"], "{j}");
        assert_eq!(j["message_hash"], v["message_hash"]);
        assert_eq!(j["address"], ADDR0);
        alloy_check_message(j["signature"].as_str().expect("sig"), b"hello", ADDR0);
        t = fresh(&r);
    }

    for name in ["hardhat-0-eip155", "hardhat-2-eip1559"] {
        let v = vector(name);
        let j = sign_tx(&h, &mut t, &v["request"], v["from"].as_str().expect("from"));
        assert_signed_tx(&j, &v);
    }

    let v = vector("hardhat-0-eip712-mail");
    let mut without_domain = v["typed_data"].clone();
    without_domain["types"]
        .as_object_mut()
        .expect("types")
        .remove("EIP712Domain");
    for (typed, as_string) in [(v["typed_data"].clone(), false), (without_domain, true)] {
        let payload = if as_string {
            Value::String(typed.to_string())
        } else {
            typed
        };
        let r = post(
            &h,
            "/guardian/sign-typed-data",
            Some(&t),
            &json!({"typed_data": payload}),
        );
        let j = r.json();
        assert_eq!(j["signature"], v["signature"], "{j}");
        assert_eq!(j["digest"], v["digest"]);
        alloy_check_typed(
            j["signature"].as_str().expect("sig"),
            &v["typed_data"],
            v["digest"].as_str().expect("d"),
            ADDR0,
        );
        t = fresh(&r);
    }
    let mut bad = v["typed_data"].clone();
    bad["domain"]["chainId"] = json!(-1);
    let r = post(
        &h,
        "/guardian/sign-typed-data",
        Some(&t),
        &json!({"typed_data": bad}),
    );
    expect_error(&r, 400, "INVALID_TYPED_DATA");
    t = fresh(&r);

    // Addresses (item 18, 19).
    let r = get(&h, "/guardian/address?address_index=2", &t);
    assert_eq!(
        (
            r.json()["address"].clone(),
            r.json()["address_index"].clone()
        ),
        (json!(ADDR2), json!(2))
    );
    t = fresh(&r);
    let r = get(&h, "/guardian/sign", &t);
    assert_eq!(r.json()["public_address"], ADDR0);
    t = fresh(&r);
    let r = get(&h, "/guardian/address?address_index=1", &t);
    assert_eq!(r.json()["address"], vector("hardhat-1")["address"]);
    t = fresh(&r);
    let r = get(&h, "/guardian/address?address_index=2147483647", &t);
    assert_eq!(r.json()["address"], vector("hardhat-max-index")["address"]);
    t = fresh(&r);
    for q in ["2147483648", "-1", "abc", "%+1", "%2"] {
        let r = get(&h, &format!("/guardian/address?address_index={q}"), &t);
        expect_error(&r, 400, "INVALID_ADDRESS_INDEX");
        t = fresh(&r);
    }
    for idx in [json!(2147483648u64), json!(-1), json!("abc")] {
        let r = post(
            &h,
            "/guardian/sign",
            Some(&t),
            &json!({"raw_data": "00".repeat(32), "address_index": idx}),
        );
        expect_error(&r, 400, "INVALID_ADDRESS_INDEX");
        t = fresh(&r);
    }

    // Item 16: bad raw_data, each with a working fresh token, never a 5xx.
    for (body, code) in [
        (json!({}), "MISSING_SIGN_DATA"),
        (json!({"raw_data": "0x"}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "ab".repeat(31)}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "ab".repeat(33)}), "INVALID_RAW_DATA"),
        (json!({"raw_data": "xy".repeat(32)}), "INVALID_RAW_DATA"),
    ] {
        let r = post(&h, "/guardian/sign", Some(&t), &body);
        expect_error(&r, 400, code);
        t = fresh(&r);
    }
    let r = h.req(
        "POST",
        "/guardian/sign",
        &[("authorization", &format!("Bearer {t}"))],
        Some(b"{oops"),
    );
    expect_error(&r, 400, "BAD_REQUEST");
    t = fresh(&r);

    // Items 21, 22.
    let to = "0x3535353535353535353535353535353535353535";
    for body in [
        json!({"gas_limit": 21000, "to": to}),
        json!({"nonce": 0, "to": to}),
        json!({"nonce": 0, "gas_limit": 21000, "to": "0xcD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"}),
        json!({"nonce": 0, "gas_limit": 21000, "to": to, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "2"}),
        json!({"nonce": 0, "gas_limit": 21000, "to": to, "tx_type": 0, "access_list": [{"address": to, "storage_keys": []}]}),
        json!({"nonce": 0, "gas_limit": 53000}),
        json!({"nonce": 0, "gas_limit": 21000, "to": to, "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639936"}),
    ] {
        let r = post(&h, "/guardian/sign-tx", Some(&t), &body);
        expect_error(&r, 400, "INVALID_TX");
        t = fresh(&r);
    }
    sign_tx(
        &h,
        &mut t,
        &json!({"nonce": 0, "gas_limit": 21000, "to": to, "chain_id": 31337,
        "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}),
        ADDR0,
    );
    // Contract creation (legacy) and an EIP-1559 transaction with an access list, via alloy.
    sign_tx(
        &h,
        &mut t,
        &json!({"nonce": 1, "gas_limit": 100000, "data": "0x6080604052", "chain_id": 11155111, "gas_price": "1000000000"}),
        ADDR0,
    );
    sign_tx(
        &h,
        &mut t,
        &json!({"nonce": 2, "gas_limit": 60000, "to": to, "data": "0xa9059cbb",
        "max_fee_per_gas": "0x6fc23ac00", "max_priority_fee_per_gas": 1000000000, "address_index": 2,
        "access_list": [{"address": to, "storageKeys": [format!("0x{}", "00".repeat(31) + "01")]}]}),
        ADDR2,
    );

    // Item 17: X-Vault-Token like Bearer; two different tokens → 401.
    let r = h.req("GET", "/guardian/sign", &[("x-vault-token", &t)], None);
    assert_eq!(r.status, 200);
    t = fresh(&r);
    let other = "B".repeat(43);
    let r = h.req(
        "GET",
        "/guardian/sign",
        &[
            ("x-vault-token", &other),
            ("authorization", &format!("Bearer {t}")),
        ],
        None,
    );
    expect_error(&r, 401, "AUTH_INVALID");

    // Item 14: spent token; the fresh one works exactly once.
    let r = get(&h, "/guardian/sign", &t);
    let f = fresh(&r);
    expect_error(&get(&h, "/guardian/sign", &t), 401, "AUTH_INVALID");
    assert_eq!(get(&h, "/guardian/sign", &f).status, 200);
    expect_error(&get(&h, "/guardian/sign", &f), 401, "AUTH_INVALID");

    // Item 27: re-login never changes the address; a maintainer bearer is no enduser token.
    let r = hardhat_login(&h, "/guardian/login");
    assert_eq!(r.json()["address"], ADDR0);
    expect_error(
        &get(&h, "/guardian/sign", "admin-token-is-not-a-user-token"),
        401,
        "AUTH_INVALID",
    );

    // Item 31: 404 / 405 / 413 in the error shape.
    expect_error(&h.get("/guardian/nope"), 404, "NOT_FOUND");
    let r = h.req("PUT", "/guardian/sign", &[], None);
    expect_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert!(r.header("allow").is_some());
    let big = json!({"raw_data": "a".repeat(300_000)});
    expect_error(
        &post(&h, "/guardian/sign", Some(&"C".repeat(43)), &big),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    let r = h.get("/guardian/openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["openapi"], "3.1.0");

    // No plaintext mnemonic or private key anywhere in the state directory.
    let all = state_bytes(&h.state_dir);
    assert!(!contains(&all, HARDHAT.as_bytes()));
    assert!(!contains(
        &all,
        b"ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    ));
}

/// docs/guardian.md, "Design: signing routes" and "Authorizations (EIP-7702)" (conformance
/// item 33): EIP-7702 authorizations signed through the host recover with alloy to the user's
/// address at each index; EIP-2930 (type 1) and EIP-7702 (type 4, carrying those
/// authorizations) transactions decode with alloy, hash as alloy hashes them and recover to
/// the user's address; `signed_tx_json` reads in alloy as the same transaction.
#[test]
fn transaction_types_1_and_4_and_authorizations_over_http() {
    use alloy_consensus::TxEnvelope;
    use alloy_eips::eip7702::SignedAuthorization;

    let okta = okta_stub();
    let h = host(okta.port, 1, &[]);
    insert_user(&h.state_dir, "okta:00uhardhat", HARDHAT, ADDR0);
    let mut t = token_of(&hardhat_login(&h, "/guardian"));
    let delegate = "0x63c0c19a282a1B52b07dD5a65b58948A07DAE32B";
    let to = "0x3535353535353535353535353535353535353535";

    // Two authorizations: the user's own at index 0 (for its own transaction, nonce + 1) and
    // index 2's, for every chain.
    let mut authorize = |body: Value, authority: &str| -> Value {
        let r = post(&h, "/guardian/sign-authorization", Some(&t), &body);
        let mut j = r.json();
        assert_eq!(r.status, 200, "{j}");
        t = fresh(&r);
        assert_eq!(j["authority"], authority);
        // alloy reads the tuple (in its own names) and recovers the authority from it.
        let theirs: SignedAuthorization = serde_json::from_value(json!({
            "chainId": j["chain_id"], "address": j["address"], "nonce": j["nonce"],
            "yParity": j["y_parity"], "r": j["r"], "s": j["s"],
        }))
        .expect("alloy reads the authorization");
        assert_eq!(
            theirs.signature_hash(),
            b256(j["digest"].as_str().expect("digest"))
        );
        assert_eq!(
            theirs.recover_authority().expect("authority"),
            addr(authority)
        );
        alloy_check_digest(
            j["signature"].as_str().expect("signature"),
            j["digest"].as_str().expect("digest"),
            authority,
        );
        j.as_object_mut()
            .expect("object")
            .remove("fresh_client_token");
        j
    };
    let own = authorize(
        json!({"chain_id": 31337, "address": delegate, "nonce": 8}),
        ADDR0,
    );
    let other = authorize(
        json!({"chain_id": 0, "address": delegate, "nonce": "0x2a", "address_index": 2}),
        ADDR2,
    );

    // Type 1, with an access list and as a contract creation.
    let j = sign_tx(
        &h,
        &mut t,
        &json!({"tx_type": 1, "chain_id": 31337, "nonce": 6, "gas_limit": 60000, "to": to,
               "gas_price": "1000000000", "amount": "1", "data": "0xa9059cbb",
               "access_list": [{"address": to, "storage_keys": [format!("0x{}01", "00".repeat(31))]}]}),
        ADDR0,
    );
    let env = alloy_envelope(&j);
    let TxEnvelope::Eip2930(tx1) = &env else {
        panic!("not type 1: {env:?}")
    };
    assert_eq!(tx1.tx().access_list.0.len(), 1);
    assert_eq!(tx1.tx().gas_price, 1_000_000_000);
    let j = sign_tx(
        &h,
        &mut t,
        &json!({"tx_type": 1, "nonce": 0, "gas_limit": 100000, "gas_price": 1, "data": "0x6080", "address_index": 2}),
        ADDR2,
    );
    assert!(matches!(alloy_envelope(&j), TxEnvelope::Eip2930(_)));

    // Type 4 carrying both authorizations, pasted as the route answered them.
    let j = sign_tx(
        &h,
        &mut t,
        &json!({"tx_type": 4, "chain_id": 31337, "nonce": 7, "gas_limit": 120000, "to": ADDR0,
               "max_fee_per_gas": "2000000000", "max_priority_fee_per_gas": "1000000000",
               "data": "0x", "authorization_list": [own, other]}),
        ADDR0,
    );
    let env = alloy_envelope(&j);
    let TxEnvelope::Eip7702(tx4) = &env else {
        panic!("not type 4: {env:?}")
    };
    let auths = &tx4.tx().authorization_list;
    let authorities: Vec<Address> = auths
        .iter()
        .map(|a| a.recover_authority().expect("authority"))
        .collect();
    assert_eq!(authorities, vec![addr(ADDR0), addr(ADDR2)]);
    assert_eq!(auths[0].nonce, 8);
    assert_eq!(auths[1].chain_id, alloy_primitives::U256::ZERO);
    assert_eq!(tx4.tx().to, addr(ADDR0));

    // Refusals name the field, each with a working fresh token.
    for (path, body, code) in [
        (
            "/guardian/sign-tx",
            json!({"tx_type": 4, "nonce": 0, "gas_limit": 50000, "max_fee_per_gas": 2,
                   "max_priority_fee_per_gas": 1, "data": "0x60", "authorization_list": [{}]}),
            "INVALID_TX",
        ),
        (
            "/guardian/sign-tx",
            json!({"tx_type": 4, "nonce": 0, "gas_limit": 50000, "to": to,
                   "max_fee_per_gas": 2, "max_priority_fee_per_gas": 1}),
            "INVALID_TX",
        ),
        (
            "/guardian/sign-authorization",
            json!({"chain_id": 1, "address": delegate}),
            "INVALID_AUTHORIZATION",
        ),
    ] {
        let r = post(&h, path, Some(&t), &body);
        expect_error(&r, 400, code);
        t = fresh(&r);
    }
}

/// The envelope alloy decodes from a `/guardian/sign-tx` answer, which must also be what alloy
/// reads from its `signed_tx_json`.
fn alloy_envelope(j: &Value) -> alloy_consensus::TxEnvelope {
    let raw = hex::decode(
        j["signed_tx_rlp"]
            .as_str()
            .expect("rlp")
            .trim_start_matches("0x"),
    )
    .expect("hex");
    let env = alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_slice()).expect("decode");
    let from_json: alloy_consensus::TxEnvelope =
        serde_json::from_str(j["signed_tx_json"].as_str().expect("json")).expect("alloy reads it");
    assert_eq!(from_json, env);
    env
}

/// Items 3–8, 11: the Okta flows through the real component and outbound HTTP.
#[test]
fn okta_login_flows() {
    let okta = okta_stub();
    let h = host(okta.port, 1, &[("okta_mfa_timeout_seconds", "2")]);
    let dir = h.state_dir.clone();
    // Item 3.
    let r = post(
        &h,
        "/guardian/login",
        None,
        &json!({"okta_username": "alice", "okta_password": "bad"}),
    );
    expect_error(&r, 401, "IDP_INVALID_CREDENTIALS");
    assert_eq!(count(&dir, "SELECT COUNT(*) FROM gd_user"), 0);
    // Item 4.
    let r = login(&h, "alice");
    let t = token_of(&r);
    assert_eq!(t.len(), 43);
    assert_eq!(r.json()["created"], true);
    let a = r.json()["address"].as_str().expect("address").to_owned();
    let r = post(
        &h,
        "/guardian",
        None,
        &json!({"okta_username": "alice", "okta_password": "pw"}),
    );
    assert_eq!(r.json()["created"], false);
    assert!(r.json().get("address").is_none());
    let r = post(
        &h,
        "/guardian",
        None,
        &json!({"okta_username": "alice", "okta_password": "pw", "get_address": true}),
    );
    assert_eq!(r.json()["address"], a.as_str());
    // Item 13: the signature recovers to the user's address (alloy).
    let digest = "11".repeat(32);
    let r = post(&h, "/guardian/sign", Some(&t), &json!({"raw_data": digest}));
    alloy_check_digest(
        r.json()["signature"].as_str().expect("sig"),
        &format!("0x{digest}"),
        &a,
    );
    fresh(&r);
    // Item 5: WAITING ×3 then SUCCESS, polls about 500 ms apart.
    let start = Instant::now();
    let r = login(&h, "push1");
    assert_eq!(r.status, 200, "{}", r.text());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "{took:?}"
    );
    expect_error(&login(&h, "reject1"), 401, "MFA_REJECTED");
    let start = Instant::now();
    expect_error(&login(&h, "hang1"), 401, "MFA_TIMEOUT");
    assert!(start.elapsed() < Duration::from_secs(6));
    assert!(
        okta.requests()
            .iter()
            .any(|r| r.target == "/api/v1/authn/cancel")
    );
    // Item 6.
    expect_error(&login(&h, "nopush"), 403, "MFA_FACTOR_UNSUPPORTED");
    expect_error(&login(&h, "locked"), 403, "IDP_ACCOUNT_LOCKED");
    expect_error(&login(&h, "expired"), 403, "IDP_PASSWORD_EXPIRED");
    expect_error(&login(&h, "enroll"), 403, "MFA_ENROLL_REQUIRED");
    let r = login(&h, "warn");
    assert_eq!(r.status, 200, "{}", r.text());
    let targets: Vec<String> = okta.requests().iter().map(|r| r.target.clone()).collect();
    let skip = targets
        .iter()
        .position(|t| t == "/api/v1/authn/skip")
        .expect("skip followed");
    assert!(
        targets[skip..].iter().any(|t| t.ends_with("/opf1/verify")),
        "MFA still required after skip"
    );
    // Item 7.
    expect_error(&login(&h, "boom"), 502, "IDP_UNAVAILABLE");
    expect_error(&login(&h, "foreign"), 502, "IDP_UNAVAILABLE");
    // Item 11.
    expect_error(
        &post(&h, "/guardian/login", None, &json!({})),
        400,
        "BAD_REQUEST",
    );
    expect_error(
        &post(
            &h,
            "/guardian/login",
            None,
            &json!({"okta_username": "a", "okta_password": "b", "id_token": "x.y.z"}),
        ),
        400,
        "BAD_REQUEST",
    );
    drop(h);
    // Okta unreachable (nothing listens), and OIDC unconfigured → LOGIN_METHOD_DISABLED.
    let h = HostBuilder::new(guardian_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_OKTA_BASE_URL", "http://127.0.0.1:9")
        .env("SPIN_VARIABLE_GUARDIAN_IDP_HOSTS", "http://127.0.0.1:9")
        .start();
    expect_error(&login(&h, "alice"), 502, "IDP_UNAVAILABLE");
    expect_error(
        &post(&h, "/guardian/login", None, &json!({"id_token": "a.b.c"})),
        400,
        "LOGIN_METHOD_DISABLED",
    );
    assert_eq!(count(&h.state_dir, "SELECT COUNT(*) FROM gd_user"), 0);
}

/// Item 8, 25, 26, 28, 29, 30: organisation check, /authorize, /export, rate limit.
#[test]
fn authorize_export_and_limits() {
    let okta = okta_stub();
    let h = host(
        okta.port,
        1,
        &[
            ("admin_token", "maintainer-secret"),
            ("allow_export", "true"),
            ("export_max_login_age_seconds", "2"),
            ("login_rate_limit_per_minute", "12"),
        ],
    );
    let dir = h.state_dir.clone();
    let admin = |body: Value, bearer: &str| {
        h.req(
            "POST",
            "/guardian/authorize",
            &[("authorization", &format!("Bearer {bearer}"))],
            Some(body.to_string().as_bytes()),
        )
    };
    // Item 25.
    expect_error(
        &admin(json!({"okta_group": "wallet-users"}), "wrong"),
        401,
        "AUTH_INVALID",
    );
    let t = token_of(&login(&h, "bob"));
    expect_error(
        &admin(json!({"okta_group": "wallet-users"}), &t),
        401,
        "AUTH_INVALID",
    );
    // Item 26.
    expect_error(
        &admin(
            json!({"okta_base_url": "http://example.com"}),
            "maintainer-secret",
        ),
        400,
        "BAD_REQUEST",
    );
    let r = admin(json!({"okta_url": "acme"}), "maintainer-secret");
    assert_eq!((r.status, r.json()), (200, json!({"configUpdated": true})));
    // The next login goes to https://acme.okta.com, which is not an allowed host → 502.
    expect_error(&login(&h, "bob"), 502, "IDP_UNAVAILABLE");
    let r = admin(json!({"okta_base_url": null}), "maintainer-secret");
    assert_eq!(r.status, 200);
    assert_eq!(login(&h, "bob").status, 200);
    // Item 8: group set → outsiders are refused before any key exists.
    let r = admin(
        json!({"okta_group": "wallet-users", "okta_token": "ssws-secret", "secret_id": "x"}),
        "maintainer-secret",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    expect_error(&login(&h, "outsider"), 403, "USER_NOT_IN_ORG");
    assert_eq!(
        count(
            &dir,
            "SELECT COUNT(*) FROM gd_user WHERE user_id = 'okta:00uoutsider'"
        ),
        0
    );
    let r = login(&h, "insider");
    assert_eq!(r.status, 200, "{}", r.text());
    let groups = okta
        .requests()
        .into_iter()
        .find(|r| r.target.ends_with("/groups"))
        .expect("group lookup");
    assert_eq!(groups.header("authorization"), Some("SSWS ssws-secret"));
    assert!(!contains(&state_bytes(&dir), b"ssws-secret"));
    assert_eq!(
        admin(
            json!({"okta_group": null, "okta_api_token": null}),
            "maintainer-secret"
        )
        .status,
        200
    );

    // Items 28/29: export.
    let login_t = token_of(&login(&h, "carol"));
    let r = get(&h, "/guardian/sign", &login_t);
    let addr = r.json()["public_address"]
        .as_str()
        .expect("addr")
        .to_owned();
    let f = fresh(&r);
    let export = |t: &str| post(&h, "/guardian/export", Some(t), &json!({}));
    let r = export(&f);
    expect_error(&r, 403, "FRESH_LOGIN_REQUIRED");
    assert!(r.json().get("fresh_client_token").is_none());
    assert_eq!(get(&h, "/guardian/sign", &f).status, 200, "still usable");
    let old = token_of(&login(&h, "carol"));
    std::thread::sleep(Duration::from_millis(2100));
    expect_error(&export(&old), 403, "FRESH_LOGIN_REQUIRED");
    let new = token_of(&login(&h, "carol"));
    let r = export(&new);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert!(j.get("fresh_client_token").is_none());
    assert_eq!(j["hd_path"], "m/44'/60'/0'/0/0");
    assert_eq!(j["address"], addr.as_str());
    let words = j["mnemonic"].as_str().expect("mnemonic");
    assert_eq!(words.split(' ').count(), 24);
    let m = guardian_core::Mnemonic::parse(words).expect("mnemonic");
    assert_eq!(m.derive_address(0).expect("derive").to_checksum(), addr);
    assert_eq!(count(&dir, "SELECT COUNT(*) FROM gd_export_log"), 1);
    assert!(
        !contains(&state_bytes(&dir), words.as_bytes()),
        "no plaintext mnemonic at rest"
    );
    expect_error(&export(&new), 401, "AUTH_INVALID");

    // Item 30: the per-address limit (12 here) → 429 + Retry-After.
    let mut limited = None;
    for i in 0..15 {
        let r = login(&h, &format!("rl{i}"));
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("rate limited");
    expect_error(&r, 429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
}

/// Item 28 (export disabled), 25 (admin disabled), 31 (master_key missing), 15 (TTL).
#[test]
fn disabled_features_and_ttl() {
    let okta = okta_stub();
    let h = host(okta.port, 1, &[("token_ttl_seconds", "1")]);
    let t = token_of(&login(&h, "dave"));
    expect_error(
        &post(&h, "/guardian/export", Some(&t), &json!({})),
        403,
        "EXPORT_DISABLED",
    );
    expect_error(
        &h.req(
            "POST",
            "/guardian/authorize",
            &[("authorization", "Bearer x")],
            Some(b"{\"okta_url\":\"a\"}"),
        ),
        403,
        "ADMIN_DISABLED",
    );
    let r = get(&h, "/guardian/sign", &t);
    assert_eq!(r.status, 200, "export refusal left the token usable");
    let f = fresh(&r);
    std::thread::sleep(Duration::from_millis(1200));
    expect_error(&get(&h, "/guardian/sign", &f), 401, "AUTH_INVALID");
    drop(h);
    // Chain bound: ttl 2 s but chain 3 s.
    let h = host(
        okta.port,
        1,
        &[("token_ttl_seconds", "2"), ("token_chain_max_seconds", "3")],
    );
    let mut t = token_of(&login(&h, "dave"));
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        let r = get(&h, "/guardian/sign", &t);
        assert_eq!(r.status, 200);
        t = fresh(&r);
    }
    std::thread::sleep(Duration::from_millis(1000));
    expect_error(&get(&h, "/guardian/sign", &t), 401, "AUTH_INVALID");
    drop(h);
    let h = with_okta(
        HostBuilder::new(guardian_manifest()).env("SPIN_VARIABLE_MASTER_KEY", ""),
        okta.port,
    )
    .start();
    expect_error(&login(&h, "dave"), 503, "NOT_CONFIGURED");
    expect_error(
        &get(&h, "/guardian/sign", &"D".repeat(43)),
        503,
        "NOT_CONFIGURED",
    );
}

/// Items 12 and 14: 20 concurrent first logins → one key; 20 concurrent uses of a token → one 200.
#[test]
fn concurrency() {
    let okta = okta_stub();
    let h = Arc::new(host(
        okta.port,
        1,
        &[
            ("login_user_rate_limit_per_minute", "100"),
            ("login_rate_limit_per_minute", "100"),
        ],
    ));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let h = h.clone();
            std::thread::spawn(move || login(&h, "erin"))
        })
        .collect();
    let results: Vec<Resp> = handles
        .into_iter()
        .map(|j| j.join().expect("join"))
        .collect();
    let mut addresses = Vec::new();
    let mut created = 0;
    for r in &results {
        assert_eq!(r.status, 200, "{}", r.text());
        if r.json()["created"] == true {
            created += 1;
            addresses.push(r.json()["address"].as_str().expect("a").to_owned());
        }
    }
    assert_eq!(created, 1, "exactly one login created the key");
    assert_eq!(count(&h.state_dir, "SELECT COUNT(*) FROM gd_user"), 1);
    let r = post(
        &h,
        "/guardian",
        None,
        &json!({"okta_username": "erin", "okta_password": "pw", "get_address": true}),
    );
    assert_eq!(
        r.json()["address"].as_str(),
        addresses.first().map(String::as_str)
    );
    let ct = db(&h.state_dir).text("SELECT mnemonic_ct FROM gd_user", &[]);
    assert!(!ct.contains(' '), "mnemonic stored sealed");

    let t = token_of(&login(&h, "erin"));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let h = h.clone();
            let t = t.clone();
            std::thread::spawn(move || get(&h, "/guardian/sign", &t).status)
        })
        .collect();
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|j| j.join().expect("join"))
        .collect();
    assert_one_winner(&statuses, 200, 401);
}

fn claims(now: u64) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600,
           "email": "Frank@Example.com", "email_verified": true})
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Items 9 and 10: OIDC id_tokens against the stub JWKS.
#[test]
fn oidc_login() {
    let rs = TestSigner::new(Algorithm::RS256, "rs-1");
    let es = TestSigner::new(Algorithm::ES256, "es-1");
    let jwks = jwks_stub(&[&rs, &es]);
    let h = host(1, jwks.port, &[("admin_token", "maintainer-secret")]);
    let now = unix_now();
    let id_login = |tok: &str| post(&h, "/guardian/login", None, &json!({"id_token": tok}));

    let r = id_login(&rs.sign(&claims(now)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["created"], true);
    let mut c = claims(now);
    c["jti"] = json!("second");
    let r = id_login(&es.sign(&c));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["created"], false, "same iss#sub, same user");

    let mut bad_iss = claims(now);
    bad_iss["iss"] = json!("https://other.example");
    let mut bad_aud = claims(now);
    bad_aud["aud"] = json!("someone-else");
    let good = rs.sign(&claims(now + 1));
    let mut tampered = good.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let none = encode_token(&json!({"alg": "none", "typ": "JWT"}), &claims(now + 2), b"");
    let hs = hs256_token(
        rs.jwk().to_string().as_bytes(),
        &json!({"alg": "HS256", "kid": "rs-1"}),
        &claims(now + 3),
    );
    let unknown = TestSigner::alt(Algorithm::RS256, "not-in-jwks").sign(&claims(now + 4));
    for tok in [
        rs.sign(&bad_iss),
        rs.sign(&bad_aud),
        tampered,
        none,
        hs,
        unknown,
        "not-a-jwt".to_owned(),
    ] {
        expect_error(&id_login(&tok), 401, "ID_TOKEN_INVALID");
    }
    let mut expired = claims(now - 4000);
    expired["exp"] = json!(now - 120);
    expect_error(&id_login(&rs.sign(&expired)), 401, "ID_TOKEN_EXPIRED");
    // Single use.
    let once = rs.sign(&claims(now + 5));
    assert_eq!(id_login(&once).status, 200);
    expect_error(&id_login(&once), 401, "ID_TOKEN_INVALID");

    // Email mode and allowed domains, switched on through /authorize.
    let admin = |body: Value| {
        h.req(
            "POST",
            "/guardian/authorize",
            &[("authorization", "Bearer maintainer-secret")],
            Some(body.to_string().as_bytes()),
        )
    };
    assert_eq!(
        admin(
            json!({"oidc_user_claim": "email", "oidc_allowed_domains": "example.com, corp.example"})
        )
        .status,
        200
    );
    let mut unverified = claims(now + 6);
    unverified["email_verified"] = json!(false);
    expect_error(&id_login(&rs.sign(&unverified)), 401, "ID_TOKEN_INVALID");
    let mut outsider = claims(now + 7);
    outsider["email"] = json!("eve@evil.example");
    expect_error(&id_login(&rs.sign(&outsider)), 403, "USER_NOT_IN_ORG");
    let mut stringy = claims(now + 8);
    stringy["email_verified"] = json!("true");
    let r = id_login(&rs.sign(&stringy));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["created"],
        true,
        "email:frank@example.com is a new identity"
    );
    let mut ids = db(&h.state_dir).texts("SELECT user_id FROM gd_user", &[]);
    ids.sort();
    assert_eq!(
        ids,
        vec![
            "email:frank@example.com".to_owned(),
            format!("oidc:{ISSUER}#user-1")
        ]
    );
}

/// Item 32: least privilege in the product manifest.
#[test]
fn guardian_grants_are_least_privilege() {
    let manifest: toml_like::Doc = toml_like::parse(&guardian_manifest());
    let sign = manifest.component("guardian-sign");
    assert!(
        !sign.contains("allowed_outbound_hosts"),
        "guardian-sign must not reach the network"
    );
    assert!(!sign.contains("key_value_stores"));
    for c in [
        "guardian-sign",
        "guardian-admin",
        "guardian-export",
        "guardian-login",
    ] {
        let body = manifest.component(c);
        assert!(
            body.contains("sqlite_databases = [\"guardian\"]"),
            "{c}: {body}"
        );
        assert!(
            !body.contains("keyservice") && !body.contains("shield"),
            "{c}"
        );
    }
    for c in ["guardian-sign", "guardian-admin", "guardian-export"] {
        assert!(
            !manifest.component(c).contains("allowed_outbound_hosts"),
            "{c}"
        );
    }
    assert!(
        !manifest
            .component("guardian-admin")
            .contains("allow_export")
    );
}

/// The few lines of TOML structure the grant test needs (no TOML parser among the test deps).
mod toml_like {
    pub struct Doc(String);
    pub fn parse(s: &str) -> Doc {
        Doc(s.to_owned())
    }
    impl Doc {
        /// The text of `[component.<id>]` and its sub-tables, up to the next other table.
        pub fn component(&self, id: &str) -> String {
            let mut out = String::new();
            let mut inside = false;
            for line in self.0.lines() {
                let t = line.trim();
                if t.starts_with('[') {
                    inside = t == format!("[component.{id}]")
                        || t.starts_with(&format!("[component.{id}."));
                }
                if inside {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            assert!(!out.is_empty(), "no component {id}");
            out
        }
    }
}
