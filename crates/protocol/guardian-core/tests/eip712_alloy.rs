//! Differential test of the hand-written EIP-712 encoder against alloy-dyn-abi (a dev-dependency
//! only: it is too large to link into the wasm components, see README.md), on shapes the spec
//! vectors do not cover: arrays of structs, nested and fixed arrays, bytes,
//! bytesN, intN, bool, a salt in the domain, and primaryType = EIP712Domain.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use guardian_core::{TypedData, hex};
use serde_json::{Value, json};

fn ours(td: &Value) -> [u8; 32] {
    TypedData::from_json(td).unwrap().hashes().unwrap().digest
}

fn alloys(td: &Value) -> [u8; 32] {
    let parsed: alloy_dyn_abi::TypedData = serde_json::from_value(td.clone()).unwrap();
    parsed.eip712_signing_hash().unwrap().0
}

/// A struct type's member list, `[{"name", "type"}, …]`, from (name, type) pairs.
fn fields(members: &[(&str, &str)]) -> Value {
    members
        .iter()
        .map(|(name, ty)| json!({"name": name, "type": ty}))
        .collect()
}

fn check(td: Value) {
    assert_eq!(hex::encode(&ours(&td)), hex::encode(&alloys(&td)), "{td}");
}

#[test]
fn rich_types_match_alloy() {
    check(json!({
        "types": {
            "EIP712Domain": fields(&[
                ("name", "string"), ("version", "string"), ("chainId", "uint256"),
                ("verifyingContract", "address"), ("salt", "bytes32"),
            ]),
            "Person": fields(&[
                ("name", "string"), ("wallets", "address[]"), ("age", "uint8"), ("balance", "int256"),
            ]),
            "Mail": fields(&[
                ("from", "Person"), ("to", "Person[]"), ("contents", "string"),
                ("attachment", "bytes"), ("tag", "bytes4"), ("urgent", "bool"),
                ("grid", "uint16[2][]"), ("delta", "int32"), ("group", "Group"),
            ]),
            "Group": fields(&[("name", "string"), ("members", "Person[2]")])
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail", "version": "1", "chainId": 1,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
            "salt": "0xf2d857f4a3edcb9b78b4d503bfe733db1e3f6cdc2b7971ee739626c97e86a558"
        },
        "message": {
            "from": {"name": "Cow", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"], "age": 7, "balance": "-1000"},
            "to": [
                {"name": "Bob", "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"], "age": 255, "balance": "123456789012345678901234567890"},
                {"name": "Eve", "wallets": [], "age": 0, "balance": "0"}
            ],
            "contents": "Hello, Bob! ünïcødé",
            "attachment": "0xdeadbeef00",
            "tag": "0x01020304",
            "urgent": true,
            "grid": [[1, 2], [65535, 0]],
            "delta": "-2147483648",
            "group": {
                "name": "friends",
                "members": [
                    {"name": "A", "wallets": [], "age": 1, "balance": "-1"},
                    {"name": "B", "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"], "age": 2, "balance": "1"}
                ]
            }
        }
    }));
}

/// alloy refuses recursive types (CircularDependency); eth-sig-util and EIP-712 allow them, so
/// the expected digest is built here step by step from the EIP-712 definitions.
#[test]
fn recursive_type_by_hand() {
    use guardian_core::keccak256;
    let td = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Node": [{"name": "value", "type": "uint256"}, {"name": "children", "type": "Node[]"}]
        },
        "primaryType": "Node",
        "domain": {"name": "tree"},
        "message": {"value": "0x10", "children": [{"value": 1, "children": []}]}
    });
    let parsed = TypedData::from_json(&td).unwrap();
    assert_eq!(
        parsed.encode_type("Node").unwrap(),
        "Node(uint256 value,Node[] children)"
    );
    let node_th = keccak256(b"Node(uint256 value,Node[] children)");
    let word = |n: u8| {
        let mut w = [0u8; 32];
        w[31] = n;
        w
    };
    let leaf = keccak256(&[node_th, word(1), keccak256(&[])].concat());
    let root = keccak256(&[node_th, word(0x10), keccak256(&leaf)].concat());
    let domain = keccak256(&[keccak256(b"EIP712Domain(string name)"), keccak256(b"tree")].concat());
    let digest = keccak256(&[&[0x19u8, 0x01][..], &domain, &root].concat());
    let hashes = parsed.hashes().unwrap();
    assert_eq!(hashes.struct_hash, Some(root));
    assert_eq!(hashes.digest, digest);
}

#[test]
fn domain_only_matches_alloy() {
    check(json!({
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}]},
        "primaryType": "EIP712Domain",
        "domain": {"name": "Permit", "version": "2"},
        "message": {}
    }));
}

#[test]
fn derived_domain_type_matches_alloy() {
    // EIP712Domain omitted from types: both derive it from the keys present in the domain.
    let mut td = json!({
        "types": {"Ping": [{"name": "n", "type": "uint64"}]},
        "primaryType": "Ping",
        "domain": {"version": "3", "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", "chainId": 10},
        "message": {"n": 42}
    });
    let ours_digest = ours(&td);
    td["types"]["EIP712Domain"] = json!([
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"}
    ]);
    assert_eq!(ours_digest, ours(&td));
    check(td);
}
