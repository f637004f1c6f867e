//! guardian (guardian.md §13) end to end: the product spin.toml on the keyward host, a stub Okta
//! (Authentication API wire format) and a stub JWKS endpoint on loopback. Every signature and
//! signed transaction the host returns is also verified with alloy (an independent Ethereum
//! implementation): `alloy-primitives` (ECDSA recovery, EIP-191), `alloy-dyn-abi` (EIP-712) and
//! `alloy-consensus` (EIP-2718 decoding, transaction hash, signer recovery).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Signature};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, encode_token, hs256_token, jwks_json};
use keyward_e2e::{
    Host, HostBuilder, Resp, Stub, StubReply, TEST_MASTER_KEY, Value, json, repo_root, wasm,
};

const HARDHAT: &str = "test test test test test test test test test test test junk";
const ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const ADDR2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "guardian-e2e";

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!(
        "../../crates/guardian-core/tests/vectors/guardian.json"
    ))
    .expect("vectors")
}

fn vector(name: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

// ---- stub Okta ----------------------------------------------------------------------------

fn reply(status: u16, v: Value) -> StubReply {
    (status, "application/json", v.to_string().into_bytes())
}

/// Okta's Authentication API for a few scripted users (the username picks the scenario; the
/// state token carries it through verify/poll). Push users answer WAITING three times first.
fn okta_stub() -> Stub {
    let polls: Arc<Mutex<HashMap<String, u32>>> = Arc::new(Mutex::new(HashMap::new()));
    let cell: Arc<Mutex<u16>> = Arc::new(Mutex::new(0));
    let port_cell = cell.clone();
    let stub = Stub::start(move |req| {
        let port = *port_cell.lock().expect("port");
        let base = format!("http://127.0.0.1:{port}");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let success = |user: &str| {
            reply(
                200,
                json!({"status": "SUCCESS", "sessionToken": "s",
                "_embedded": {"user": {"id": format!("00u{user}")}}}),
            )
        };
        let mfa = |user: &str, factor_base: &str| {
            reply(
                200,
                json!({"status": "MFA_REQUIRED", "stateToken": user, "_embedded": {"factors": [
                {"id": "sms1", "factorType": "sms", "provider": "OKTA",
                 "_links": {"verify": {"href": format!("{base}/api/v1/authn/factors/sms1/verify")}}},
                {"id": "opf1", "factorType": "push", "provider": "OKTA",
                 "_links": {"verify": {"href": format!("{factor_base}/api/v1/authn/factors/opf1/verify")}}}]}}),
            )
        };
        let challenge = |user: &str, result: &str| {
            reply(
                200,
                json!({"status": "MFA_CHALLENGE", "stateToken": user, "factorResult": result,
                "_links": {"next": {"href": format!("{base}/api/v1/authn/factors/opf1/verify")},
                           "cancel": {"href": format!("{base}/api/v1/authn/cancel")}}}),
            )
        };
        match req.target.as_str() {
            "/api/v1/authn" => {
                let user = body["username"].as_str().unwrap_or("").to_owned();
                if body["password"] == "bad" {
                    return reply(
                        401,
                        json!({"errorCode": "E0000004", "errorSummary": "Authentication failed"}),
                    );
                }
                match user.as_str() {
                    "locked" => reply(200, json!({"status": "LOCKED_OUT"})),
                    "expired" => reply(
                        200,
                        json!({"status": "PASSWORD_EXPIRED", "stateToken": "e"}),
                    ),
                    "enroll" => reply(200, json!({"status": "MFA_ENROLL", "stateToken": "e"})),
                    "nopush" => reply(
                        200,
                        json!({"status": "MFA_REQUIRED", "stateToken": "n",
                        "_embedded": {"factors": [{"factorType": "sms", "provider": "OKTA"}]}}),
                    ),
                    "boom" => reply(503, json!({})),
                    "foreign" => mfa(&user, "http://127.0.0.1:9"),
                    "warn" => reply(
                        200,
                        json!({"status": "PASSWORD_WARN", "stateToken": "warn",
                        "_links": {"skip": {"href": format!("{base}/api/v1/authn/skip")}}}),
                    ),
                    u if u.starts_with("push")
                        || u.starts_with("reject")
                        || u.starts_with("hang") =>
                    {
                        mfa(u, &base)
                    }
                    u => success(u),
                }
            }
            "/api/v1/authn/skip" => mfa("pushwarn", &base),
            "/api/v1/authn/cancel" => reply(200, json!({"status": "CANCELLED"})),
            "/api/v1/authn/factors/opf1/verify" => {
                let user = body["stateToken"].as_str().unwrap_or("").to_owned();
                if user.starts_with("reject") {
                    return challenge(&user, "REJECTED");
                }
                if user.starts_with("hang") {
                    return challenge(&user, "WAITING");
                }
                let mut p = polls.lock().expect("polls");
                let n = p.entry(user.clone()).or_insert(0);
                *n += 1;
                if *n <= 3 {
                    challenge(&user, "WAITING")
                } else {
                    success(&user)
                }
            }
            t if t.starts_with("/api/v1/users/") && t.ends_with("/groups") => {
                let name = if t.contains("00uinsider") {
                    "wallet-users"
                } else {
                    "Everyone"
                };
                reply(200, json!([{"id": "g1", "profile": {"name": name}}]))
            }
            _ => reply(404, json!({"errorCode": "E0000007"})),
        }
    });
    *cell.lock().expect("port") = stub.port;
    stub
}

fn jwks_stub(signers: &[&TestSigner]) -> Stub {
    let doc = jwks_json(signers).into_bytes();
    Stub::start(move |_| (200, "application/json", doc.clone()))
}

// ---- host ---------------------------------------------------------------------------------

/// The product `spin.toml` reduced to its preamble (`[application]`, `[variables]`) and its
/// guardian section, with absolute wasm paths: guardian's real routes and grants, independent of
/// whether the other services' components are built.
fn guardian_manifest() -> String {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("read spin.toml");
    let mut keep = true;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ---- ") {
            keep = rest.starts_with("guardian");
        }
        if !keep {
            continue;
        }
        match line
            .strip_prefix("source = \"target/wasm32-wasip2/release/")
            .and_then(|r| r.strip_suffix(".wasm\""))
        {
            Some(name) => out.push(format!("source = \"{}\"", wasm(name).display())),
            None => out.push(line.to_owned()),
        }
    }
    let manifest = out.join("\n");
    assert!(
        manifest.contains("[component.guardian-sign]"),
        "no guardian section in spin.toml"
    );
    manifest
}

fn host(okta: u16, jwks: u16, vars: &[(&str, &str)]) -> Host {
    let mut b = HostBuilder::new(guardian_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env(
            "SPIN_VARIABLE_OKTA_BASE_URL",
            &format!("http://127.0.0.1:{okta}"),
        )
        .env(
            "SPIN_VARIABLE_GUARDIAN_IDP_HOSTS",
            &format!("http://127.0.0.1:{okta},http://127.0.0.1:{jwks}"),
        )
        .env("SPIN_VARIABLE_OIDC_ISSUER", ISSUER)
        .env("SPIN_VARIABLE_OIDC_AUDIENCE", AUDIENCE)
        .env(
            "SPIN_VARIABLE_OIDC_JWKS_URL",
            &format!("http://127.0.0.1:{jwks}/jwks"),
        );
    for (k, v) in vars {
        b = b.env(&format!("SPIN_VARIABLE_{}", k.to_uppercase()), v);
    }
    b.start()
}

fn post(h: &Host, path: &str, token: Option<&str>, body: &Value) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    h.req("POST", path, &headers, Some(body.to_string().as_bytes()))
}

fn get(h: &Host, path: &str, token: &str) -> Resp {
    h.req(
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
}

fn login(h: &Host, user: &str) -> Resp {
    post(
        h,
        "/guardian/login",
        None,
        &json!({"okta_username": user, "okta_password": "pw"}),
    )
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["client_token"]
        .as_str()
        .expect("client_token")
        .to_owned()
}

#[track_caller]
fn expect_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.error_code(), code);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

#[track_caller]
fn fresh(r: &Resp) -> String {
    let j = r.json();
    let t = j["fresh_client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no fresh token: {j}"));
    assert_eq!(t.len(), 43);
    t.to_owned()
}

fn db(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("guardian.db")).expect("open guardian.db");
    c.busy_timeout(Duration::from_secs(10)).expect("timeout");
    c
}

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).expect("count")
}

/// Writes a `gd_user` row holding `mnemonic`, sealed as guardian seals it.
fn insert_user(dir: &Path, user_id: &str, mnemonic: &str, address0: &str) {
    let c = db(dir);
    for stmt in guardian_service::store::SCHEMA {
        c.execute(stmt, []).expect("schema");
    }
    let master = envelope::MasterKey::parse(TEST_MASTER_KEY).expect("master");
    let sealer = envelope::Sealer::new(&master, b"keyward/guardian/mnemonic/v1").expect("sealer");
    let ct = sealer
        .seal(mnemonic.as_bytes(), user_id.as_bytes())
        .expect("seal");
    c.execute(
        "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?1, ?2, ?3, 0)",
        rusqlite::params![user_id, ct, address0],
    )
    .expect("insert");
}

fn state_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("state dir").flatten() {
        if let Ok(b) = std::fs::read(e.path()) {
            out.extend_from_slice(&b);
        }
    }
    out
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

// ---- tests --------------------------------------------------------------------------------

/// §13 items 2, 13, 16–24 (hardhat vectors), 27: a user written straight into the database
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
    let r = post(
        &h,
        "/guardian",
        None,
        &json!({"okta_username": "hardhat", "okta_password": "pw", "get_address": true}),
    );
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
        let r = post(&h, "/guardian/sign-tx", Some(&t), &v["request"]);
        let j = r.json();
        assert_eq!(r.status, 200, "{j}");
        assert_eq!(j["signed_tx_rlp"], v["signed_tx_rlp"]);
        assert_eq!(j["tx_hash"], v["tx_hash"]);
        assert_eq!(j["from"], v["from"]);
        let parsed: Value =
            serde_json::from_str(j["signed_tx_json"].as_str().expect("string")).expect("json");
        assert_eq!(parsed, v["signed_tx_json"]);
        alloy_check_tx(
            j["signed_tx_rlp"].as_str().expect("rlp"),
            j["tx_hash"].as_str().expect("hash"),
            v["from"].as_str().expect("from"),
        );
        t = fresh(&r);
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
    for q in ["2147483648", "-1", "abc"] {
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
    let r = post(
        &h,
        "/guardian/sign-tx",
        Some(&t),
        &json!({"nonce": 0, "gas_limit": 21000, "to": to, "chain_id": 31337,
        "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}),
    );
    let j = r.json();
    assert_eq!(r.status, 200, "{j}");
    alloy_check_tx(
        j["signed_tx_rlp"].as_str().expect("rlp"),
        j["tx_hash"].as_str().expect("hash"),
        ADDR0,
    );
    t = fresh(&r);
    // Contract creation (legacy) and an EIP-1559 transaction with an access list, via alloy.
    let r = post(
        &h,
        "/guardian/sign-tx",
        Some(&t),
        &json!({"nonce": 1, "gas_limit": 100000, "data": "0x6080604052", "chain_id": 11155111, "gas_price": "1000000000"}),
    );
    let j = r.json();
    alloy_check_tx(
        j["signed_tx_rlp"].as_str().expect("rlp"),
        j["tx_hash"].as_str().expect("hash"),
        ADDR0,
    );
    t = fresh(&r);
    let r = post(
        &h,
        "/guardian/sign-tx",
        Some(&t),
        &json!({"nonce": 2, "gas_limit": 60000, "to": to, "data": "0xa9059cbb",
        "max_fee_per_gas": "0x6fc23ac00", "max_priority_fee_per_gas": 1000000000, "address_index": 2,
        "access_list": [{"address": to, "storageKeys": [format!("0x{}", "00".repeat(31) + "01")]}]}),
    );
    let j = r.json();
    assert_eq!(r.status, 200, "{j}");
    alloy_check_tx(
        j["signed_tx_rlp"].as_str().expect("rlp"),
        j["tx_hash"].as_str().expect("hash"),
        ADDR2,
    );
    t = fresh(&r);

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
    let r = post(
        &h,
        "/guardian/login",
        None,
        &json!({"okta_username": "hardhat", "okta_password": "pw", "get_address": true}),
    );
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
    let h = HostBuilder::new(guardian_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", "")
        .env(
            "SPIN_VARIABLE_OKTA_BASE_URL",
            &format!("http://127.0.0.1:{}", okta.port),
        )
        .env(
            "SPIN_VARIABLE_GUARDIAN_IDP_HOSTS",
            &format!("http://127.0.0.1:{}", okta.port),
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
    let ct: String = db(&h.state_dir)
        .query_row("SELECT mnemonic_ct FROM gd_user", [], |r| r.get(0))
        .expect("ct");
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
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
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
    let ids: Vec<String> = db(&h.state_dir)
        .prepare("SELECT user_id FROM gd_user ORDER BY user_id")
        .expect("prep")
        .query_map([], |r| r.get(0))
        .expect("q")
        .map(|r| r.expect("row"))
        .collect();
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
