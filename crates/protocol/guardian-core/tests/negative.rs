//! Malformed input: every case is a clean error with the spec's code, never a panic.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use guardian_core::request::{
    parse_address_index, parse_address_index_query, parse_raw_data, parse_sign_message_request,
    parse_sign_request, parse_sign_tx_request, parse_sign_typed_data_request,
};
use guardian_core::{ErrorCode, Mnemonic, PrivateKey, TypedData, recover_address};
use serde_json::{Value, json};

fn code<T: std::fmt::Debug>(r: Result<T, guardian_core::Error>) -> ErrorCode {
    r.unwrap_err().code()
}

const K46: [u8; 32] = [0x46; 32];
const DIGEST: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";

#[test]
fn raw_data() {
    for missing in [None, Some(json!(null)), Some(json!(""))] {
        assert_eq!(
            code(parse_raw_data(missing.as_ref())),
            ErrorCode::MissingSignData
        );
    }
    let too_short = &DIGEST[..62];
    let too_long = format!("{DIGEST}00");
    for bad in [
        json!("0x"),
        json!("0"),
        json!("00"),
        json!(too_short),
        json!(too_long),
        json!(format!("{}zz", &DIGEST[..62])),
        json!(format!("{DIGEST}0")),
        json!(format!("0x0x{}", &DIGEST[..60])),
        json!("é"),
        json!(42),
        json!([1, 2]),
        json!({"a": 1}),
        json!(true),
    ] {
        let e = parse_raw_data(Some(&bad)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidRawData, "{bad}");
        assert!(e.message().starts_with("raw_data must be 32 bytes of hex"));
    }
    let e = parse_raw_data(Some(&json!(too_short))).unwrap_err();
    assert!(e.message().ends_with("got 31 bytes"), "{}", e.message());
    let e = parse_raw_data(Some(&json!("0x"))).unwrap_err();
    assert!(e.message().ends_with("got 0 bytes"), "{}", e.message());
}

#[test]
fn sign_request_body() {
    assert_eq!(code(parse_sign_request(&json!([]))), ErrorCode::BadRequest);
    assert_eq!(code(parse_sign_request(&json!("x"))), ErrorCode::BadRequest);
    assert_eq!(
        code(parse_sign_request(
            &json!({"raw_data": DIGEST, "adress_index": 1})
        )),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(parse_sign_request(&json!({}))),
        ErrorCode::MissingSignData
    );
    let ok = parse_sign_request(&json!({"raw_data": DIGEST, "address_index": "7"})).unwrap();
    assert_eq!(ok.address_index, 7);
}

#[test]
fn address_index() {
    assert_eq!(parse_address_index(None).unwrap(), 0);
    assert_eq!(parse_address_index(Some(&json!(null))).unwrap(), 0);
    assert_eq!(
        parse_address_index(Some(&json!(2147483647))).unwrap(),
        2147483647
    );
    assert_eq!(
        parse_address_index(Some(&json!("2147483647"))).unwrap(),
        2147483647
    );
    assert_eq!(parse_address_index_query(Some("2")).unwrap(), 2);
    assert_eq!(parse_address_index_query(None).unwrap(), 0);
    for bad in [
        json!(2147483648u64),
        json!(-1),
        json!("-1"),
        json!("abc"),
        json!(""),
        json!("01"),
        json!("0x1"),
        json!(1.5),
        json!(true),
        json!([0]),
        json!("2147483648"),
        json!("99999999999999999999999999999"),
    ] {
        assert_eq!(
            code(parse_address_index(Some(&bad))),
            ErrorCode::InvalidAddressIndex,
            "{bad}"
        );
    }
    for bad in ["2147483648", "-1", "abc", "", " 1", "1 "] {
        assert_eq!(
            code(parse_address_index_query(Some(bad))),
            ErrorCode::InvalidAddressIndex,
            "{bad:?}"
        );
    }
    let m = Mnemonic::parse("test test test test test test test test test test test junk").unwrap();
    assert_eq!(code(m.derive_key(1 << 31)), ErrorCode::InvalidAddressIndex);
    assert_ne!(m.derive_address(0).unwrap(), m.derive_address(1).unwrap());
}

fn legacy() -> Value {
    json!({
        "nonce": 9, "gas_price": "20000000000", "gas_limit": 21000,
        "to": "0x3535353535353535353535353535353535353535",
        "amount": "1000000000000000000", "data": "", "chain_id": 1
    })
}

fn eip1559() -> Value {
    json!({
        "chain_id": 1, "nonce": 0, "max_priority_fee_per_gas": "1000000000",
        "max_fee_per_gas": "30000000000", "gas_limit": 21000,
        "to": "0x3535353535353535353535353535353535353535", "amount": "1"
    })
}

fn with(mut base: Value, key: &str, v: Value) -> Value {
    base[key] = v;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

fn tx_err(body: &Value) -> guardian_core::Error {
    parse_sign_tx_request(body).unwrap_err()
}

#[test]
fn sign_tx_rejections() {
    let cases = [
        without(legacy(), "nonce"),
        without(legacy(), "gas_limit"),
        with(legacy(), "nonce", json!(null)),
        with(legacy(), "nonce", json!(-1)),
        with(legacy(), "nonce", json!("18446744073709551616")),
        with(legacy(), "gas_limit", json!(1.5)),
        // Bad checksum (one letter's case flipped), short address, non-string.
        with(
            legacy(),
            "to",
            json!("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        ),
        with(legacy(), "to", json!("0x1234")),
        with(legacy(), "to", json!(5)),
        with(eip1559(), "max_priority_fee_per_gas", json!("30000000001")),
        with(legacy(), "access_list", json!([])),
        with(legacy(), "max_fee_per_gas", json!("1")),
        with(
            with(legacy(), "tx_type", json!(0)),
            "max_priority_fee_per_gas",
            json!("1"),
        ),
        with(eip1559(), "gas_price", json!("1")),
        without(with(eip1559(), "tx_type", json!(2)), "max_fee_per_gas"),
        // A 1559 fee field alone implies type 2, which then lacks the other fee.
        without(eip1559(), "max_priority_fee_per_gas"),
        with(legacy(), "tx_type", json!(3)),
        with(legacy(), "tx_type", json!("3")),
        without(legacy(), "to"),
        with(without(legacy(), "to"), "data", json!("0x")),
        with(legacy(), "to", json!(null)),
        with(legacy(), "data", json!("0xabc")),
        with(legacy(), "data", json!("zz")),
        with(legacy(), "data", json!(12)),
        with(legacy(), "chain_id", json!(0)),
        with(legacy(), "chain_id", json!("9223372036854775772")),
        with(legacy(), "amount", json!(format!("1{}", "0".repeat(78)))),
        with(
            legacy(),
            "amount",
            json!("115792089237316195423570985008687907853269984665640564039457584007913129639936"),
        ),
        with(legacy(), "amount", json!(1e18)),
        with(legacy(), "amount", json!(9007199254740992u64)),
        with(legacy(), "amount", json!("1.5")),
        with(legacy(), "amount", json!("01")),
        with(eip1559(), "access_list", json!({})),
        with(
            eip1559(),
            "access_list",
            json!([{"address": "0x3535353535353535353535353535353535353535", "storage_keys": ["0x01"]}]),
        ),
        with(eip1559(), "access_list", json!([{"storage_keys": []}])),
        with(
            eip1559(),
            "access_list",
            json!([{"address": "0x3535353535353535353535353535353535353535", "storage_keys": [], "storageKeys": []}]),
        ),
        with(
            eip1559(),
            "access_list",
            json!([{"address": "0x3535353535353535353535353535353535353535", "keys": []}]),
        ),
    ];
    for (i, body) in cases.iter().enumerate() {
        let e = tx_err(body);
        assert_eq!(e.code(), ErrorCode::InvalidTx, "case {i}: {body} -> {e:?}");
    }
    // Messages name the field.
    assert!(
        tx_err(&without(legacy(), "nonce"))
            .message()
            .contains("nonce")
    );
    assert!(
        tx_err(&with(
            eip1559(),
            "max_priority_fee_per_gas",
            json!("30000000001")
        ))
        .message()
        .contains("max_priority_fee_per_gas")
    );
    // Unknown fields and non-objects are BAD_REQUEST.
    assert_eq!(
        tx_err(&with(legacy(), "gasPrice", json!("1"))).code(),
        ErrorCode::BadRequest
    );
    assert_eq!(tx_err(&json!([legacy()])).code(), ErrorCode::BadRequest);
    assert_eq!(
        tx_err(&with(legacy(), "address_index", json!(-1))).code(),
        ErrorCode::InvalidAddressIndex
    );
}

#[test]
fn sign_tx_accepts_bounds_and_aliases() {
    let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    assert!(parse_sign_tx_request(&with(legacy(), "amount", json!(max))).is_ok());
    let hex_max = format!("0x{}", "f".repeat(64));
    assert!(parse_sign_tx_request(&with(legacy(), "amount", json!(hex_max))).is_ok());
    assert!(
        parse_sign_tx_request(&with(legacy(), "chain_id", json!("9223372036854775771"))).is_ok()
    );
    // Defaults: amount 0, data empty, chain 1, type 0.
    let minimal =
        json!({"nonce": 0, "gas_limit": 21000, "to": "0x3535353535353535353535353535353535353535"});
    let req = parse_sign_tx_request(&minimal).unwrap();
    assert_eq!(req.tx.chain_id, 1);
    assert_eq!(req.tx.tx_type, guardian_core::TxType::Legacy);
    // storageKeys is accepted as an alias; priority == max is allowed.
    let al = with(
        with(eip1559(), "max_priority_fee_per_gas", json!("30000000000")),
        "access_list",
        json!([{"address": "0x3535353535353535353535353535353535353535", "storageKeys": [format!("0x{}", "00".repeat(32))]}]),
    );
    let req = parse_sign_tx_request(&al).unwrap();
    assert_eq!(req.tx.access_list.len(), 1);
    // Contract creation with explicit null `to` and data.
    let create = with(with(legacy(), "to", json!(null)), "data", json!("0x60"));
    assert!(parse_sign_tx_request(&create).unwrap().tx.to.is_none());
    // Large chain id signs with a u64 v.
    let key = PrivateKey::from_bytes(&K46).unwrap();
    let big =
        parse_sign_tx_request(&with(legacy(), "chain_id", json!("9223372036854775771"))).unwrap();
    let signed = guardian_core::sign_tx(&key, &big.tx).unwrap();
    assert!(signed.v >= 2 * 9223372036854775771 + 35);
}

#[test]
fn sign_message_rejections() {
    assert_eq!(
        code(parse_sign_message_request(&json!({}))),
        ErrorCode::MissingSignData
    );
    assert_eq!(
        code(parse_sign_message_request(&json!({"message": null}))),
        ErrorCode::MissingSignData
    );
    for bad in [
        json!({"message": 5}),
        json!({"message": "0xzz", "encoding": "hex"}),
        json!({"message": "0xabc", "encoding": "hex"}),
        json!({"message": "hi", "encoding": "base64"}),
        json!({"message": "hi", "encoding": 1}),
    ] {
        assert_eq!(
            code(parse_sign_message_request(&bad)),
            ErrorCode::InvalidMessage,
            "{bad}"
        );
    }
    assert_eq!(
        code(parse_sign_message_request(
            &json!({"message": "hi", "extra": 1})
        )),
        ErrorCode::BadRequest
    );
    // Empty messages are legitimate.
    assert!(
        parse_sign_message_request(&json!({"message": ""}))
            .unwrap()
            .message
            .is_empty()
    );
    assert!(
        parse_sign_message_request(&json!({"message": "0x", "encoding": "hex"}))
            .unwrap()
            .message
            .is_empty()
    );
}

fn mail() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
        }
    })
}

fn td_err(td: Value) -> guardian_core::Error {
    match TypedData::from_json(&td).and_then(|t| t.hashes()) {
        Ok(h) => panic!("accepted {td}: {h:?}"),
        Err(e) => e,
    }
}

#[test]
fn typed_data_rejections() {
    assert!(TypedData::from_json(&mail()).unwrap().hashes().is_ok());
    let mut cases: Vec<Value> = Vec::new();
    let mut push = |f: &dyn Fn(&mut Value)| {
        let mut v = mail();
        f(&mut v);
        cases.push(v);
    };
    for chain_id in [
        json!(-1),
        json!(format!("0x1{}", "0".repeat(64))),
        json!(1.5),
        json!("1e3"),
        json!(9007199254740992u64),
    ] {
        push(&|v| v["domain"]["chainId"] = chain_id.clone());
    }
    push(&|v| {
        v["domain"]["verifyingContract"] = json!("0xcCCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")
    });
    push(&|v| v["domain"]["verifyingContract"] = json!("0x1234"));
    push(&|v| v["domain"]["extra"] = json!("x"));
    push(&|v| {
        v["domain"].as_object_mut().unwrap().remove("version");
    });
    push(&|v| v["message"]["from"]["age"] = json!(1));
    push(&|v| {
        v["message"]["to"].as_object_mut().unwrap().remove("wallet");
    });
    push(&|v| v["message"]["contents"] = json!(5));
    push(&|v| v["message"]["from"] = json!("Cow"));
    push(&|v| v["message"]["from"]["wallet"] = json!(null));
    push(&|v| v["primaryType"] = json!("Letter"));
    for field in ["primaryType", "message", "domain", "types"] {
        push(&|v| {
            v.as_object_mut().unwrap().remove(field);
        });
    }
    push(&|v| v["extra"] = json!(1));
    for ty in [
        "addr",
        "uint",
        "uint7",
        "uint264",
        "bytes33",
        "bytes0",
        "address[0]",
        "address]",
        "address[01]",
    ] {
        push(&|v| v["types"]["Person"][1]["type"] = json!(ty));
    }
    for name in ["name", "bad name"] {
        push(&|v| v["types"]["Person"][1]["name"] = json!(name));
    }
    push(&|v| v["types"]["Person"][1]["extra"] = json!("x"));
    push(&|v| v["types"]["Person"] = json!({}));
    push(&|v| v["types"]["uint256"] = json!([]));
    for (i, td) in cases.into_iter().enumerate() {
        let e = td_err(td.clone());
        assert_eq!(
            e.code(),
            ErrorCode::InvalidTypedData,
            "case {i}: {td} -> {e:?}"
        );
    }
    // Not JSON, or not an object.
    assert_eq!(
        td_err(json!("{not json")).code(),
        ErrorCode::InvalidTypedData
    );
    assert_eq!(td_err(json!("[1]")).code(), ErrorCode::InvalidTypedData);
    assert_eq!(td_err(json!(5)).code(), ErrorCode::InvalidTypedData);
    assert_eq!(
        code(parse_sign_typed_data_request(&json!({}))),
        ErrorCode::MissingSignData
    );
    assert_eq!(
        code(parse_sign_typed_data_request(
            &json!({"typed_data": mail(), "x": 1})
        )),
        ErrorCode::BadRequest
    );
}

#[test]
fn typed_data_value_ranges() {
    let td = |ty: &str, value: Value| {
        json!({
            "types": {"T": [{"name": "v", "type": ty}]},
            "primaryType": "T",
            "domain": {"name": "x"},
            "message": {"v": value}
        })
    };
    let ok = |ty: &str, value: Value| {
        TypedData::from_json(&td(ty, value.clone()))
            .and_then(|t| t.hashes())
            .unwrap_or_else(|e| panic!("{ty} {value}: {e}"))
    };
    let bad = |ty: &str, value: Value| {
        assert_eq!(
            td_err(td(ty, value.clone())).code(),
            ErrorCode::InvalidTypedData,
            "{ty} {value}"
        );
    };
    ok("uint8", json!(255));
    bad("uint8", json!(256));
    bad("uint8", json!(-1));
    ok("int8", json!(-128));
    ok("int8", json!("127"));
    bad("int8", json!(128));
    bad("int8", json!("-129"));
    ok("int256", json!(format!("-0x8{}", "0".repeat(63))));
    bad("int256", json!(format!("0x8{}", "0".repeat(63))));
    ok("uint256", json!(format!("0x{}", "f".repeat(64))));
    ok("bytes4", json!("0x01020304"));
    bad("bytes4", json!("0x010203"));
    bad("bytes4", json!("0x0102030405"));
    ok("bytes", json!("0x"));
    bad("bytes", json!("0xabc"));
    bad("bytes", json!(7));
    ok("bool", json!(true));
    bad("bool", json!("true"));
    bad("bool", json!(1));
    bad("string", json!(null));
    ok("uint8[2]", json!([1, 2]));
    bad("uint8[2]", json!([1]));
    bad("uint8[2]", json!([1, 2, 3]));
    bad("uint8[]", json!({"0": 1}));
    ok("uint8[][2]", json!([[], [1]]));
    // Equal values in different spellings hash the same.
    assert_eq!(ok("uint256", json!(1000)), ok("uint256", json!("1000")));
    assert_eq!(ok("uint256", json!(1000)), ok("uint256", json!("0x3e8")));
    assert_eq!(ok("int16", json!(-1)), ok("int16", json!("-0x1")));
}

#[test]
fn typed_data_depth_bound() {
    // Node { Node[] children } nested deeper than 32 levels.
    let mut value = json!({"children": []});
    for _ in 0..40 {
        value = json!({ "children": [value] });
    }
    let td = json!({
        "types": {"Node": [{"name": "children", "type": "Node[]"}]},
        "primaryType": "Node",
        "domain": {},
        "message": value
    });
    assert_eq!(td_err(td).code(), ErrorCode::InvalidTypedData);
    // A shallow recursive value is fine.
    let shallow = json!({
        "types": {"Node": [{"name": "children", "type": "Node[]"}]},
        "primaryType": "Node",
        "domain": {},
        "message": {"children": [{"children": []}]}
    });
    assert!(TypedData::from_json(&shallow).unwrap().hashes().is_ok());
    let deep_type = format!("uint8{}", "[]".repeat(40));
    let td = json!({
        "types": {"T": [{"name": "v", "type": deep_type}]},
        "primaryType": "T", "domain": {}, "message": {"v": []}
    });
    assert_eq!(td_err(td).code(), ErrorCode::InvalidTypedData);
}

#[test]
fn keys_and_signatures() {
    assert_eq!(
        code(PrivateKey::from_bytes(&[0u8; 32])),
        ErrorCode::KeyUnavailable
    );
    assert_eq!(
        code(PrivateKey::from_bytes(&[0xff; 32])),
        ErrorCode::KeyUnavailable
    );
    let digest = [7u8; 32];
    for bad in [
        vec![],
        vec![0u8; 64],
        vec![0u8; 66],
        {
            let mut v = vec![1u8; 65];
            v[64] = 2;
            v
        },
        {
            let mut v = vec![0u8; 65];
            v[64] = 27;
            v
        },
    ] {
        assert!(recover_address(&digest, &bad).is_err());
    }
    // High-S: each signature has s <= n/2.
    let key = PrivateKey::from_bytes(&K46).unwrap();
    let half_n: [u8; 32] = guardian_core::hex::decode_fixed(
        "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
    )
    .unwrap();
    for i in 0..32u8 {
        let sig = key.sign_digest(&[i; 32]).unwrap();
        assert!(sig.s <= half_n);
        assert!(sig.recovery_id <= 1);
    }
}

#[test]
fn mnemonics() {
    for bad in [
        "",
        "test",
        "test test test test test test test test test test test test",
        "test test test test test test test test test test test junkk",
        "test test test test test test test test test test junk",
    ] {
        let e = Mnemonic::parse(bad).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeyUnavailable);
        assert!(!e.message().contains("junk"), "{}", e.message());
    }
    let m = Mnemonic::generate().unwrap();
    assert_eq!(m.word_count(), 24);
    let again = Mnemonic::parse(&m.phrase()).unwrap();
    assert_eq!(
        again.derive_address(0).unwrap(),
        m.derive_address(0).unwrap()
    );
    assert_ne!(Mnemonic::generate().unwrap().phrase(), m.phrase());
    // Extra whitespace does not change the key.
    let spaced =
        Mnemonic::parse("  test test test test test test test test test test test\tjunk ").unwrap();
    assert_eq!(
        spaced.derive_address(0).unwrap().to_checksum(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let m = Mnemonic::parse("test test test test test test test test test test test junk").unwrap();
    let dbg = format!("{m:?}");
    assert!(!dbg.contains("test") && !dbg.contains("junk"), "{dbg}");
    let key = m.derive_key(0).unwrap();
    let dbg = format!("{key:?}");
    assert!(!dbg.contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"));
    assert!(!dbg.to_lowercase().contains("ac0974be"), "{dbg}");
}

#[test]
fn typed_data_type_count_bound() {
    let mut types = serde_json::Map::new();
    for i in 0..129 {
        types.insert(format!("T{i}"), json!([{"name": "v", "type": "uint8"}]));
    }
    let td = json!({"types": types, "primaryType": "T0", "domain": {}, "message": {"v": 1}});
    assert_eq!(td_err(td).code(), ErrorCode::InvalidTypedData);
}

#[test]
fn non_ascii_mnemonics_are_rejected_not_normalised() {
    // Fullwidth letters NFKD-normalise to "test…junk"; guardian only stores ASCII phrases it made.
    let fullwidth = "ｔｅｓｔ test test test test test test test test test test junk";
    assert_eq!(code(Mnemonic::parse(fullwidth)), ErrorCode::KeyUnavailable);
}
