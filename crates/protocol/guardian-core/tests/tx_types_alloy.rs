//! Differential test of transaction types 1 (EIP-2930) and 4 (EIP-7702) and of EIP-7702
//! authorizations against alloy (a dev-dependency only; docs/guardian.md, "Design: signing
//! routes" and "Authorizations (EIP-7702)"): alloy computes the signing hashes, decodes what
//! guardian-core signs, recovers its signers and reads `signed_tx_json`; type 2 once more with
//! the same helpers.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem as AlloyItem};
use alloy_primitives::{Address as A, B256, Bytes, TxKind, U256 as AU256};
use guardian_core::authorization::{Authorization, parse_signed_authorization};
use guardian_core::request::{parse_sign_authorization_request, parse_sign_tx_request};
use guardian_core::{ErrorCode, PrivateKey, sign_authorization, sign_tx};
use serde_json::{Value, json};

/// Hardhat's account 0 and account 1.
const K0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const K1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const TO: &str = "0x3535353535353535353535353535353535353535";
const DELEGATE: &str = "0x63c0c19a282a1B52b07dD5a65b58948A07DAE32B";

fn key(hex: &str) -> PrivateKey {
    PrivateKey::from_bytes(&guardian_core::hex::decode_fixed(hex).unwrap()).unwrap()
}

fn addr(s: &str) -> A {
    s.parse().unwrap()
}

fn slot(n: u8) -> String {
    format!("0x{}{:02x}", "00".repeat(31), n)
}

fn access_list() -> Value {
    json!([{"address": TO, "storage_keys": [slot(1), slot(2)]}, {"address": DELEGATE, "storageKeys": []}])
}

fn alloy_access_list() -> AccessList {
    AccessList(vec![
        AlloyItem {
            address: addr(TO),
            storage_keys: vec![B256::with_last_byte(1), B256::with_last_byte(2)],
        },
        AlloyItem {
            address: addr(DELEGATE),
            storage_keys: vec![],
        },
    ])
}

/// Signs `body` with `k`; alloy decodes the result, agrees on its hash, recovers the signer,
/// computes the same signing hash from `expected`, and reads `signed_tx_json` as the same
/// signed transaction.
fn check<T>(k: &PrivateKey, body: Value, expected: T) -> TxEnvelope
where
    T: SignableTransaction<alloy_primitives::Signature> + PartialEq + std::fmt::Debug,
    TxEnvelope: From<alloy_consensus::Signed<T>>,
{
    let req = parse_sign_tx_request(&body).unwrap();
    let signed = sign_tx(k, &req.tx).unwrap();
    assert_eq!(signed.signing_hash, expected.signature_hash().0, "{body}");
    let env = TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
    assert_eq!(env.tx_hash().0, signed.hash);
    assert_eq!(env.recover_signer().unwrap().0.0, k.address().0);
    // The decoded transaction is `expected`, signed.
    let sig = alloy_primitives::Signature::new(
        AU256::from_be_bytes(signed.r.to_be_bytes()),
        AU256::from_be_bytes(signed.s.to_be_bytes()),
        signed.y_parity == 1,
    );
    assert_eq!(env, TxEnvelope::from(expected.into_signed(sig)));
    // signed_tx_json is what alloy's JSON form of the envelope holds.
    let json: Value = serde_json::from_str(&signed.json).unwrap();
    let from_json: TxEnvelope = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(from_json, env, "{json}");
    env
}

#[test]
fn eip2930_matches_alloy() {
    let k = key(K0);
    let env = check(
        &k,
        json!({"tx_type": 1, "chain_id": 31337, "nonce": 7, "gas_price": "20000000000",
               "gas_limit": 60000, "to": TO, "amount": "1000000000000000000",
               "data": "0xa9059cbb", "access_list": access_list()}),
        TxEip2930 {
            chain_id: 31337,
            nonce: 7,
            gas_price: 20_000_000_000,
            gas_limit: 60000,
            to: TxKind::Call(addr(TO)),
            value: AU256::from(10u64).pow(AU256::from(18u64)),
            access_list: alloy_access_list(),
            input: Bytes::from(vec![0xa9, 0x05, 0x9c, 0xbb]),
        },
    );
    assert!(matches!(env, TxEnvelope::Eip2930(_)));
    // Contract creation and an empty access list.
    check(
        &k,
        json!({"tx_type": 1, "nonce": 0, "gas_price": 1, "gas_limit": 100000, "data": "0x6080"}),
        TxEip2930 {
            chain_id: 1,
            nonce: 0,
            gas_price: 1,
            gas_limit: 100000,
            to: TxKind::Create,
            value: AU256::ZERO,
            access_list: AccessList::default(),
            input: Bytes::from(vec![0x60, 0x80]),
        },
    );
}

#[test]
fn eip1559_still_matches_alloy() {
    check(
        &key(K1),
        json!({"chain_id": 10, "nonce": 1, "max_fee_per_gas": "0x6fc23ac00",
               "max_priority_fee_per_gas": 1000000000, "gas_limit": 60000, "to": TO,
               "access_list": access_list()}),
        TxEip1559 {
            chain_id: 10,
            nonce: 1,
            gas_limit: 60000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(addr(TO)),
            value: AU256::ZERO,
            access_list: alloy_access_list(),
            input: Bytes::new(),
        },
    );
}

/// The answer of `/guardian/sign-authorization` for `auth` signed by `k`, as the route builds it.
fn authorization_answer(k: &PrivateKey, chain_id: u64, delegate: &str, nonce: u64) -> Value {
    let req = parse_sign_authorization_request(
        &json!({"chain_id": chain_id, "address": delegate, "nonce": nonce.to_string()}),
    )
    .unwrap();
    let s = sign_authorization(k, &req.authorization).unwrap();
    let q = |n: u64| guardian_core::U256::from_u64(n).to_quantity();
    json!({
        "chain_id": s.auth.chain_id.to_quantity(), "address": s.auth.address.to_checksum(),
        "nonce": q(s.auth.nonce), "y_parity": q(u64::from(s.y_parity)),
        "r": s.r.to_quantity(), "s": s.s.to_quantity(),
        "signature": guardian_core::hex::encode(&s.signature_bytes()),
        "digest": guardian_core::hex::encode(&s.auth.signing_hash()),
        "authority": k.address().to_checksum(),
    })
}

fn alloy_authorization(v: &Value) -> alloy_eips::eip7702::SignedAuthorization {
    // alloy reads the tuple in its own (camelCase) names.
    serde_json::from_value(json!({
        "chainId": v["chain_id"], "address": v["address"], "nonce": v["nonce"],
        "yParity": v["y_parity"], "r": v["r"], "s": v["s"],
    }))
    .unwrap()
}

#[test]
fn authorizations_match_alloy() {
    for (k, chain_id, nonce) in [(K0, 1, 0), (K1, 31337, 5), (K0, 0, u64::MAX)] {
        let k = key(k);
        let v = authorization_answer(&k, chain_id, DELEGATE, nonce);
        let theirs = alloy_authorization(&v);
        // alloy's digest: keccak256(0x05 || rlp([chain_id, address, nonce])).
        let expected = alloy_eips::eip7702::Authorization {
            chain_id: AU256::from(chain_id),
            address: addr(DELEGATE),
            nonce,
        };
        assert_eq!(
            format!("{:?}", expected.signature_hash()),
            v["digest"].as_str().unwrap()
        );
        assert_eq!(*theirs.inner(), expected);
        assert_eq!(theirs.recover_authority().unwrap().0.0, k.address().0);
        // Pasted back as a list item, whole or as alloy names it, it reads as the same tuple.
        let (ours, authority) = parse_signed_authorization(&v, "authorization_list[0]").unwrap();
        assert_eq!(authority, k.address());
        let camel = json!({
            "chainId": v["chain_id"], "address": v["address"], "nonce": v["nonce"],
            "yParity": v["y_parity"], "r": v["r"], "s": v["s"],
        });
        assert_eq!(
            parse_signed_authorization(&camel, "authorization_list[0]")
                .unwrap()
                .0,
            ours
        );
    }
}

#[test]
fn eip7702_matches_alloy() {
    let user = key(K0);
    // One authorization by the sender itself (its nonce one above the transaction's, as
    // EIP-7702 requires when the sender authorizes in its own transaction), one by another
    // account.
    let own = authorization_answer(&user, 31337, DELEGATE, 8);
    let other = authorization_answer(&key(K1), 0, TO, 3);
    let env = check(
        &user,
        json!({"tx_type": 4, "chain_id": 31337, "nonce": 7, "max_fee_per_gas": "30000000000",
               "max_priority_fee_per_gas": "1000000000", "gas_limit": 100000,
               "to": addr(DELEGATE).to_string(), "amount": 0, "data": "0x",
               "access_list": access_list(), "authorization_list": [own, other]}),
        TxEip7702 {
            chain_id: 31337,
            nonce: 7,
            gas_limit: 100000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: addr(DELEGATE),
            value: AU256::ZERO,
            access_list: alloy_access_list(),
            authorization_list: vec![alloy_authorization(&own), alloy_authorization(&other)],
            input: Bytes::new(),
        },
    );
    let TxEnvelope::Eip7702(signed) = env else {
        panic!("not type 4")
    };
    let auths = &signed.tx().authorization_list;
    assert_eq!(auths[0].recover_authority().unwrap().0.0, user.address().0);
    assert_eq!(
        auths[1].recover_authority().unwrap().0.0,
        key(K1).address().0
    );
}

fn tx_err(body: Value) -> guardian_core::Error {
    parse_sign_tx_request(&body).unwrap_err()
}

#[test]
fn type_1_and_4_rules() {
    let user = key(K0);
    let auth = authorization_answer(&user, 1, DELEGATE, 1);
    let t4 = json!({"tx_type": 4, "nonce": 0, "max_fee_per_gas": 2, "max_priority_fee_per_gas": 1,
                    "gas_limit": 80000, "to": TO, "authorization_list": [auth.clone()]});
    let t1 = json!({"tx_type": 1, "nonce": 0, "gas_price": 1, "gas_limit": 21000, "to": TO});
    assert!(parse_sign_tx_request(&t4).is_ok());
    assert!(parse_sign_tx_request(&t1).is_ok());
    let with = |mut b: Value, k: &str, v: Value| {
        b[k] = v;
        b
    };
    let without = |mut b: Value, k: &str| {
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let mut tampered = auth.clone();
    tampered["nonce"] = json!("0x2");
    let mut high_s = auth.clone();
    high_s["s"] = json!(format!("0x{}", "f".repeat(63) + "0"));
    let mut liar = auth.clone();
    liar["authority"] = json!(TO);
    // Each refusal is INVALID_TX and names the field.
    for (body, field) in [
        (
            with(t1.clone(), "max_fee_per_gas", json!(1)),
            "max_fee_per_gas",
        ),
        (without(t1.clone(), "gas_price"), "gas_price"),
        (
            with(t1.clone(), "authorization_list", json!([auth.clone()])),
            "authorization_list",
        ),
        (without(t4.clone(), "to"), "to"),
        (with(t4.clone(), "to", Value::Null), "to"),
        (
            without(t4.clone(), "authorization_list"),
            "authorization_list",
        ),
        (
            with(t4.clone(), "authorization_list", json!([])),
            "authorization_list",
        ),
        (
            with(t4.clone(), "authorization_list", json!({})),
            "authorization_list",
        ),
        (with(t4.clone(), "gas_price", json!(1)), "gas_price"),
        (without(t4.clone(), "max_fee_per_gas"), "max_fee_per_gas"),
        (
            with(t4.clone(), "max_priority_fee_per_gas", json!(3)),
            "max_priority_fee_per_gas",
        ),
        // A 1559 fee without tx_type is type 2, which takes no authorizations.
        (without(t4.clone(), "tx_type"), "authorization_list"),
        (
            with(t4.clone(), "authorization_list", json!([1])),
            "authorization_list[0]",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([without(auth.clone(), "r")]),
            ),
            "authorization_list[0].r",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([auth.clone(), without(auth.clone(), "chain_id")]),
            ),
            "authorization_list[1].chain_id",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "y_parity", json!(27))]),
            ),
            "authorization_list[0].y_parity",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "nonce", json!("18446744073709551616"))]),
            ),
            "authorization_list[0].nonce",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "address", json!("0x12"))]),
            ),
            "authorization_list[0].address",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "chainId", json!(1))]),
            ),
            "authorization_list[0].chain_id",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "extra", json!(1))]),
            ),
            "authorization_list[0]",
        ),
        (
            with(t4.clone(), "authorization_list", json!([tampered])),
            "authorization_list[0].digest",
        ),
        (
            with(t4.clone(), "authorization_list", json!([high_s])),
            "authorization_list[0].s",
        ),
        (
            with(t4.clone(), "authorization_list", json!([liar])),
            "authorization_list[0].authority",
        ),
        (
            with(
                t4.clone(),
                "authorization_list",
                json!([with(auth.clone(), "signature", json!("0x00"))]),
            ),
            "authorization_list[0].signature",
        ),
        (with(t4.clone(), "tx_type", json!(3)), "tx_type"),
    ] {
        let e = tx_err(body.clone());
        assert_eq!(e.code(), ErrorCode::InvalidTx, "{body} -> {e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    // An authorization whose digest and signature were left out still reads; a changed nonce
    // then recovers to some other account, which the transaction carries as it is.
    let mut bare = without(
        without(without(auth.clone(), "digest"), "signature"),
        "authority",
    );
    bare["nonce"] = json!("0x2");
    let req =
        parse_sign_tx_request(&with(t4.clone(), "authorization_list", json!([bare]))).unwrap();
    assert_ne!(
        req.tx.authorization_list[0].authority(),
        Some(user.address())
    );
}

#[test]
fn sign_authorization_rules() {
    let ok = json!({"chain_id": 1, "address": DELEGATE, "nonce": 0, "address_index": 3});
    let r = parse_sign_authorization_request(&ok).unwrap();
    assert_eq!(r.address_index, 3);
    assert_eq!(
        r.authorization,
        Authorization {
            chain_id: guardian_core::U256::from_u64(1),
            address: guardian_core::Address::parse(DELEGATE).unwrap(),
            nonce: 0
        }
    );
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for (body, field) in [
        (without("chain_id"), "chain_id"),
        (without("address"), "address"),
        (without("nonce"), "nonce"),
        (with("chain_id", json!("9223372036854775772")), "chain_id"),
        (with("chain_id", json!(-1)), "chain_id"),
        (
            with(
                "address",
                json!("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            ),
            "address",
        ),
        (with("address", json!(1)), "address"),
        (with("nonce", json!("18446744073709551616")), "nonce"),
        (with("nonce", json!(1.5)), "nonce"),
    ] {
        let e = parse_sign_authorization_request(&body).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidAuthorization, "{body}");
        assert!(e.message().starts_with(field), "{}", e.message());
    }
    let e = parse_sign_authorization_request(&with("chainId", json!(1))).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let e = parse_sign_authorization_request(&with("address_index", json!(-1))).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidAddressIndex);
    assert_eq!(
        parse_sign_authorization_request(&json!([]))
            .unwrap_err()
            .code(),
        ErrorCode::BadRequest
    );
}
