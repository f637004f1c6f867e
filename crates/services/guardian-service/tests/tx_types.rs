//! docs/guardian.md, "Design: signing routes" and "Authorizations (EIP-7702)", natively:
//! `POST /guardian/sign-authorization`, transaction types 1 and 4 on `POST /guardian/sign-tx`,
//! and what their audit records say (docs/OPERATIONS.md, "Audit trail").

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guardian_core::{Address, U256, recover_address};
use keyward_test_kit::scenarios::guardian::{ADDR0, ADDR2};
use serde_json::{Value, json};

const DELEGATE: &str = "0x63c0c19a282a1B52b07dD5a65b58948A07DAE32B";
const TO: &str = "0x3535353535353535353535353535353535353535";
/// Hardhat's account 0 private key: it must never reach a record.
const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// A signing call in the chain that succeeds; the body.
#[track_caller]
fn ok(h: &Harness, t: &mut String, path: &str, body: Value) -> Value {
    chained(h, t, "POST", path, Some(body))
}

/// The last audit record: its action, object and details.
fn last_record(h: &Harness) -> (String, String, Value) {
    let (rec, _) = keyward_test_kit::audit::records(&h.db)
        .pop()
        .expect("a record");
    (
        rec.action,
        rec.object,
        serde_json::from_str(&rec.details).expect("details"),
    )
}

fn b32(v: &Value) -> [u8; 32] {
    guardian_core::hex::decode_fixed(v.as_str().expect("hex")).expect("32 bytes")
}

#[test]
fn sign_authorization_answers_a_pasteable_tuple_and_audits_it() {
    let (h, mut t) = Harness::hardhat();
    let a = ok(
        &h,
        &mut t,
        "/guardian/sign-authorization",
        json!({"chain_id": 31337, "address": DELEGATE, "nonce": 4, "address_index": 2}),
    );
    assert_eq!(a["chain_id"], "0x7a69");
    assert_eq!(a["address"], DELEGATE);
    assert_eq!(a["nonce"], "0x4");
    assert_eq!(a["authority"], ADDR2);
    // The digest is EIP-7702's and the signature recovers to the authority.
    let auth = guardian_core::Authorization {
        chain_id: U256::from_u64(31337),
        address: Address::parse(DELEGATE).unwrap(),
        nonce: 4,
    };
    assert_eq!(b32(&a["digest"]), auth.signing_hash());
    let sig = guardian_core::hex::decode(a["signature"].as_str().unwrap()).unwrap();
    assert_eq!(sig.len(), 65);
    assert_eq!(
        recover_address(&auth.signing_hash(), &sig)
            .unwrap()
            .to_checksum(),
        ADDR2
    );
    let (action, object, details) = last_record(&h);
    assert_eq!(
        (action.as_str(), object.as_str()),
        ("sign.authorization", ADDR2)
    );
    assert_eq!(details["address_index"], 2);
    assert_eq!(details["chain_id"], 31337);
    assert_eq!(details["delegate"], DELEGATE);
    assert_eq!(details["nonce"], 4);
    assert_eq!(details["digest"], a["digest"]);
    // Never the signature or the key.
    let all = serde_json::to_string(&details).unwrap();
    assert!(!all.contains(&a["signature"].as_str().unwrap()[2..66]));
    assert!(!all.contains(KEY0));

    // Chain 0 (every chain) is signable; the answer, less the fresh token, is an item of a
    // type-4 transaction's authorization_list.
    let mut own = ok(
        &h,
        &mut t,
        "/guardian/sign-authorization",
        json!({"chain_id": 0, "address": DELEGATE, "nonce": "8"}),
    );
    own.as_object_mut().unwrap().remove("fresh_client_token");
    let tx = ok(
        &h,
        &mut t,
        "/guardian/sign-tx",
        json!({"tx_type": 4, "chain_id": 31337, "nonce": 7, "gas_limit": 90000, "to": ADDR0,
               "max_fee_per_gas": "2000000000", "max_priority_fee_per_gas": "1000000000",
               "authorization_list": [own, a.as_object().unwrap().iter()
                   .filter(|(k, _)| *k != "fresh_client_token")
                   .map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()]}),
    );
    assert_eq!(tx["from"], ADDR0);
    assert!(tx["signed_tx_rlp"].as_str().unwrap().starts_with("0x04"));
    let j: Value = serde_json::from_str(tx["signed_tx_json"].as_str().unwrap()).unwrap();
    assert_eq!(j["type"], "0x4");
    let list = j["authorizationList"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["chainId"], "0x0");
    assert_eq!(list[1]["yParity"], a["y_parity"]);
    let (action, object, details) = last_record(&h);
    assert_eq!(
        (action.as_str(), object.as_str()),
        ("sign.transaction", ADDR0)
    );
    assert_eq!(details["tx_type"], 4);
    assert_eq!(details["authorization_count"], 2);
    assert_eq!(
        details["authorizations"],
        json!([
            {"authority": ADDR0, "delegate": DELEGATE, "chain_id": 0, "nonce": 8},
            {"authority": ADDR2, "delegate": DELEGATE, "chain_id": 31337, "nonce": 4},
        ])
    );
}

#[test]
fn type_1_signs_and_refusals_name_the_field() {
    let (h, mut t) = Harness::hardhat();
    let tx = ok(
        &h,
        &mut t,
        "/guardian/sign-tx",
        json!({"tx_type": 1, "chain_id": 5, "nonce": 1, "gas_limit": 30000, "to": TO,
               "gas_price": "1000000000", "access_list": [{"address": TO, "storage_keys": []}]}),
    );
    assert!(tx["signed_tx_rlp"].as_str().unwrap().starts_with("0x01"));
    let j: Value = serde_json::from_str(tx["signed_tx_json"].as_str().unwrap()).unwrap();
    assert_eq!(j["type"], "0x1");
    assert_eq!(j["gasPrice"], "0x3b9aca00");
    assert!(j.get("authorizationList").is_none());
    let (_, _, details) = last_record(&h);
    assert_eq!(details["tx_type"], 1);
    assert!(details.get("authorization_count").is_none());

    // Each refusal is a 400 with a working fresh token and names what to fix.
    for (path, body, code, field) in [
        (
            "/guardian/sign-tx",
            json!({"tx_type": 4, "nonce": 0, "gas_limit": 21000, "to": TO,
                   "max_fee_per_gas": 2, "max_priority_fee_per_gas": 1}),
            "INVALID_TX",
            "authorization_list",
        ),
        (
            "/guardian/sign-tx",
            json!({"tx_type": 1, "nonce": 0, "gas_limit": 21000, "to": TO}),
            "INVALID_TX",
            "gas_price",
        ),
        (
            "/guardian/sign-authorization",
            json!({"address": DELEGATE, "nonce": 0}),
            "INVALID_AUTHORIZATION",
            "chain_id",
        ),
        (
            "/guardian/sign-authorization",
            json!({"chain_id": 1, "address": "0xabc", "nonce": 0}),
            "INVALID_AUTHORIZATION",
            "address",
        ),
        (
            "/guardian/sign-authorization",
            json!({"chain_id": 1, "address": DELEGATE, "nonce": 0, "delegate": DELEGATE}),
            "BAD_REQUEST",
            "unknown field",
        ),
        (
            "/guardian/sign-authorization",
            json!({"chain_id": 1, "address": DELEGATE, "nonce": 0, "address_index": -1}),
            "INVALID_ADDRESS_INDEX",
            "address_index",
        ),
    ] {
        let r = h.call("POST", path, &t, Some(body));
        let e = assert_error(&r, 400, code);
        assert!(
            e["message"].as_str().unwrap().starts_with(field),
            "{field}: {e}"
        );
        t = fresh(&r);
    }
    let (action, _, _) = last_record(&h);
    assert_eq!(action, "sign.authorization");
    // Only POST.
    let r = h.call("GET", "/guardian/sign-authorization", &t, None);
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
}
