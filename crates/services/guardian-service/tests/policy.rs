//! docs/guardian.md, "Design: signing policies": the maintainer's policy routes, every rule's
//! allowance and refusal on the signing routes, the user override, the rolling period, the
//! audit records, and the documentation's examples and schema.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::{Request, Response};
use keyward_test_kit::audit::rows_since;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-for-the-policy-test";
const RAW: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";
const GAME: &str = "0x1111111111111111111111111111111111111111";
const VAULT: &str = "0x2222222222222222222222222222222222222222";
const BAD: &str = "0x3333333333333333333333333333333333333333";
const OTHER: &str = "0x4444444444444444444444444444444444444444";

fn harness() -> Harness {
    let h = Harness::new();
    h.set_var("login_user_rate_limit_per_minute", "1000");
    h.set_var("login_rate_limit_per_minute", "1000");
    h.set_var("admin_token", ADMIN_TOKEN);
    h
}

/// Logs `okta_id` in (creating their key) and returns a token and guardian's id of the user.
fn user(h: &Harness, okta_id: &'static str) -> (String, String) {
    let t = h.okta_login_token(okta_id);
    let id = h.db_text(&format!(
        "SELECT user_id FROM gd_user WHERE user_id LIKE '%{okta_id}%'"
    ));
    assert!(!id.is_empty() && !id.contains('\n'), "{id:?}");
    (t, id)
}

fn admin(h: &Harness, method: &str, path: &str, bearer: &str, body: Option<Value>) -> Response {
    let mut req =
        Request::new(method, path).with_header("authorization", format!("Bearer {bearer}"));
    if let Some(b) = body {
        req = req.with_body(b.to_string());
    }
    h.admin_req(req)
}

fn put(h: &Harness, path: &str, doc: Value) -> Value {
    let r = admin(h, "PUT", path, ADMIN_TOKEN, Some(doc));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

fn user_path(id: &str) -> String {
    let encoded: String = id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("/guardian/policy/user?user={encoded}")
}

fn tx(chain_id: u64, to: Option<&str>, value: &str) -> Value {
    json!({"nonce": 0, "gas_limit": 21000, "gas_price": "1", "chain_id": chain_id,
           "to": to, "amount": value, "data": if to.is_none() { "0x6000" } else { "0x" }})
}

fn typed(name: &str, chain_id: u64, contract: &str, primary: &str) -> Value {
    json!({"typed_data": {
        "types": {primary: [{"name": "x", "type": "uint256"}]},
        "primaryType": primary,
        "domain": {"name": name, "chainId": chain_id, "verifyingContract": contract},
        "message": {"x": 1},
    }})
}

/// A signing call with `t`, which moves on to the fresh token; the answer.
fn call(h: &Harness, t: &mut String, path: &str, body: Value) -> Response {
    let r = h.call("POST", path, t, Some(body));
    if r.status < 500 {
        *t = fresh(&r);
    }
    r
}

#[track_caller]
fn allowed(h: &Harness, t: &mut String, path: &str, body: Value) {
    let r = call(h, t, path, body.clone());
    assert_eq!(
        r.status,
        200,
        "{path} {body}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

#[track_caller]
fn refused(h: &Harness, t: &mut String, path: &str, body: Value, code: &str) -> Value {
    let r = call(h, t, path, body);
    let j = assert_error(&r, 403, code);
    assert!(j["fresh_client_token"].is_string(), "{j}");
    j
}

fn events(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM gd_policy_event")
}

#[test]
fn without_a_policy_everything_signs_as_before_and_no_record_names_one() {
    let h = harness();
    let (mut t, _) = user(&h, "00uNOPOLICY");
    let from = keyward_test_kit::audit::records(&h.db).len();
    allowed(&h, &mut t, "/guardian/sign", json!({"raw_data": RAW}));
    allowed(
        &h,
        &mut t,
        "/guardian/sign-message",
        json!({"message": "hi"}),
    );
    allowed(&h, &mut t, "/guardian/sign-tx", tx(5, None, "7"));
    allowed(
        &h,
        &mut t,
        "/guardian/sign-typed-data",
        typed("Any", 9, BAD, "Any"),
    );
    for row in rows_since(&h.db, from) {
        assert!(row.5.get("policy").is_none(), "{row:?}");
        assert!(row.5.get("policy_document").is_none(), "{row:?}");
    }
    assert_eq!(events(&h), 0);
}

#[test]
fn only_the_maintainer_sets_reads_and_drops_policies() {
    let h = harness();
    let (t, id) = user(&h, "00uMAINT");
    let doc = json!({"chain_ids": [1]});
    // A client token, a wrong bearer, no bearer: 401, nothing stored.
    for bearer in [t.as_str(), "wrong"] {
        let r = admin(&h, "PUT", "/guardian/policy", bearer, Some(doc.clone()));
        assert_error(&r, 401, "AUTH_INVALID");
        let r = admin(&h, "PUT", &user_path(&id), bearer, Some(doc.clone()));
        assert_error(&r, 401, "AUTH_INVALID");
    }
    let r = h.admin_req(Request::new("PUT", "/guardian/policy").with_body(doc.to_string()));
    assert_error(&r, 401, "AUTH_INVALID");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_policy"), 0);
    // The user's own token cannot set one either (the signing component has no such route).
    let r = h.call("PUT", "/guardian/policy", &t, Some(doc.clone()));
    assert_eq!(r.status, 404);
    h.unset_var("admin_token");
    let r = admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None);
    assert_error(&r, 403, "ADMIN_DISABLED");
    h.set_var("admin_token", ADMIN_TOKEN);

    // Not found until set; PUT answers the normal form, GET the same; DELETE once.
    assert_error(
        &admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None),
        404,
        "POLICY_NOT_FOUND",
    );
    let normal = put(
        &h,
        "/guardian/policy",
        json!({"chain_ids": ["1"], "raw_digest": false}),
    );
    assert_eq!(normal["chain_ids"], json!([1]));
    assert_eq!(normal["raw_digest"], json!(false));
    assert_eq!(normal["eip7702"], json!({"allowed": false}));
    let got = admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None);
    assert_eq!(json(&got), normal);
    // The user's document is its own.
    assert_error(
        &admin(&h, "GET", &user_path(&id), ADMIN_TOKEN, None),
        404,
        "POLICY_NOT_FOUND",
    );
    put(&h, &user_path(&id), json!({}));
    assert_eq!(
        json(&admin(&h, "GET", &user_path(&id), ADMIN_TOKEN, None))["raw_digest"],
        json!(true)
    );
    let r = admin(&h, "DELETE", &user_path(&id), ADMIN_TOKEN, None);
    assert_eq!(json(&r), json!({"deleted": true}));
    assert_error(
        &admin(&h, "DELETE", &user_path(&id), ADMIN_TOKEN, None),
        404,
        "POLICY_NOT_FOUND",
    );
    // The deployment's stays.
    assert_eq!(
        json(&admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None)),
        normal
    );

    // Bad documents and bad user parameters: 400 naming the field, nothing written.
    for (doc, words) in [
        (
            json!({"chain_ids": [1], "typo": true}),
            "unknown field \"typo\"",
        ),
        (
            json!({"transactions": {"to_allow": ["0x12"]}}),
            "transactions.to_allow[0]",
        ),
        (
            json!({"transactions": {"max_value": 5}}),
            "transactions.max_value must be a decimal string",
        ),
        (
            json!({"period": {"seconds": 60}}),
            "period.max_count is required",
        ),
        (json!("x"), "a policy must be a JSON object"),
    ] {
        let r = admin(&h, "PUT", "/guardian/policy", ADMIN_TOKEN, Some(doc));
        let j = assert_error(&r, 400, "INVALID_POLICY");
        assert!(j["message"].as_str().unwrap().contains(words), "{j}");
    }
    let r = h.admin_req(
        Request::new("PUT", "/guardian/policy")
            .with_header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .with_body("{not json"),
    );
    assert_error(&r, 400, "INVALID_POLICY");
    assert_eq!(
        json(&admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None)),
        normal
    );
    for path in [
        "/guardian/policy/user",
        "/guardian/policy/user?user=",
        "/guardian/policy/user?user=a&user=b",
        "/guardian/policy/user?who=a",
    ] {
        assert_error(
            &admin(&h, "GET", path, ADMIN_TOKEN, None),
            400,
            "BAD_REQUEST",
        );
    }
    let r = admin(&h, "POST", "/guardian/policy", ADMIN_TOKEN, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE"));

    // Every call is audited, by the maintainer, with the scope; never the document's body.
    let rows = rows_since(&h.db, 0);
    let policy_rows: Vec<_> = rows.iter().filter(|r| r.0.starts_with("policy.")).collect();
    assert!(policy_rows.iter().any(|r| r.0 == "policy.set"
        && r.1 == "success"
        && r.3 == "admin"
        && r.4 == id
        && r.5["scope"] == "user"));
    assert!(
        policy_rows
            .iter()
            .any(|r| r.0 == "policy.delete" && r.1 == "success" && r.4 == id)
    );
    assert!(
        policy_rows
            .iter()
            .any(|r| r.0 == "policy.read" && r.2 == "POLICY_NOT_FOUND")
    );
    assert!(
        policy_rows
            .iter()
            .any(|r| r.0 == "policy.set" && r.2 == "AUTH_INVALID")
    );
    assert!(policy_rows.iter().any(|r| r.0 == "policy.set"
        && r.4 == "deployment"
        && r.5["document"].as_str().is_some_and(|d| d.len() == 16)));
}

#[test]
fn every_rule_allows_what_it_should_and_refuses_with_its_code() {
    let h = harness();
    let (mut t, _) = user(&h, "00uRULES");
    put(
        &h,
        "/guardian/policy",
        json!({
            "chain_ids": [1, 8453],
            "transactions": {"to_allow": [GAME, VAULT, BAD], "to_deny": [BAD],
                             "contract_creation": false, "max_value": "1000"},
            "typed_data": {"domains": [{"name": "Game", "chain_id": 8453, "verifying_contract": GAME}],
                           "primary_types": ["Move"]},
            "raw_digest": false,
            "personal_sign": false,
        }),
    );
    let from = keyward_test_kit::audit::records(&h.db).len();
    let tx_path = "/guardian/sign-tx";
    allowed(&h, &mut t, tx_path, tx(1, Some(VAULT), "1000"));
    allowed(&h, &mut t, tx_path, tx(8453, Some(GAME), "0"));
    refused(
        &h,
        &mut t,
        tx_path,
        tx(5, Some(VAULT), "1"),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        tx_path,
        tx(1, Some(BAD), "1"),
        "POLICY_RECIPIENT_DENIED",
    );
    refused(
        &h,
        &mut t,
        tx_path,
        tx(1, Some(OTHER), "1"),
        "POLICY_RECIPIENT_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        tx_path,
        tx(1, None, "0"),
        "POLICY_CONTRACT_CREATION_DISABLED",
    );
    let j = refused(
        &h,
        &mut t,
        tx_path,
        tx(1, Some(VAULT), "1001"),
        "POLICY_VALUE_EXCEEDED",
    );
    assert!(j["message"].as_str().unwrap().contains("1001"), "{j}");
    refused(
        &h,
        &mut t,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_RAW_DIGEST_DISABLED",
    );
    refused(
        &h,
        &mut t,
        "/guardian/sign-message",
        json!({"message": "hi"}),
        "POLICY_PERSONAL_SIGN_DISABLED",
    );
    let td = "/guardian/sign-typed-data";
    allowed(&h, &mut t, td, typed("Game", 8453, GAME, "Move"));
    refused(
        &h,
        &mut t,
        td,
        typed("Gamf", 8453, GAME, "Move"),
        "POLICY_TYPED_DATA_DOMAIN",
    );
    refused(
        &h,
        &mut t,
        td,
        typed("Game", 8453, VAULT, "Move"),
        "POLICY_TYPED_DATA_DOMAIN",
    );
    refused(
        &h,
        &mut t,
        td,
        typed("Game", 1, GAME, "Move"),
        "POLICY_TYPED_DATA_DOMAIN",
    );
    refused(
        &h,
        &mut t,
        td,
        typed("Game", 10, GAME, "Move"),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        td,
        typed("Game", 8453, GAME, "Permit"),
        "POLICY_TYPED_DATA_PRIMARY_TYPE",
    );
    // A bad request is still 400, before the policy is asked.
    let r = call(&h, &mut t, "/guardian/sign", json!({"raw_data": "12"}));
    assert_error(&r, 400, "INVALID_RAW_DATA");

    // Each decision is in the audit trail, with the document that made it.
    let rows = rows_since(&h.db, from);
    let decisions: Vec<(String, String, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.0.clone(),
                r.2.clone(),
                r.5["policy"].clone(),
                r.5["policy_document"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decisions[0],
        (
            "sign.transaction".into(),
            String::new(),
            json!("allowed"),
            json!("deployment")
        )
    );
    assert_eq!(
        decisions[2],
        (
            "sign.transaction".into(),
            "POLICY_CHAIN_NOT_ALLOWED".into(),
            json!("POLICY_CHAIN_NOT_ALLOWED"),
            json!("deployment")
        )
    );
    assert_eq!(decisions[7].2, json!("POLICY_RAW_DIGEST_DISABLED"));
    assert_eq!(
        decisions[9],
        (
            "sign.typed_data".into(),
            String::new(),
            json!("allowed"),
            json!("deployment")
        )
    );
    assert_eq!(decisions.last().unwrap().2, Value::Null);

    // Transactions and typed data switched off entirely.
    put(
        &h,
        "/guardian/policy",
        json!({"transactions": {"allowed": false}, "typed_data": {"allowed": false}}),
    );
    refused(
        &h,
        &mut t,
        tx_path,
        tx(1, Some(VAULT), "0"),
        "POLICY_TRANSACTIONS_DISABLED",
    );
    refused(
        &h,
        &mut t,
        td,
        typed("Game", 8453, GAME, "Move"),
        "POLICY_TYPED_DATA_DISABLED",
    );
    allowed(&h, &mut t, "/guardian/sign", json!({"raw_data": RAW}));
    allowed(
        &h,
        &mut t,
        "/guardian/sign-message",
        json!({"message": "hi"}),
    );
}

#[test]
fn a_user_override_replaces_the_deployment_policy_for_that_user_only() {
    let h = harness();
    let (mut alice, alice_id) = user(&h, "00uALICE");
    let (mut bob, _) = user(&h, "00uBOB");
    put(&h, "/guardian/policy", json!({"raw_digest": false}));
    put(&h, &user_path(&alice_id), json!({"personal_sign": false}));
    // Alice: her document only (raw digests allowed again, personal_sign not).
    allowed(&h, &mut alice, "/guardian/sign", json!({"raw_data": RAW}));
    let from = keyward_test_kit::audit::records(&h.db).len();
    refused(
        &h,
        &mut alice,
        "/guardian/sign-message",
        json!({"message": "hi"}),
        "POLICY_PERSONAL_SIGN_DISABLED",
    );
    assert_eq!(
        rows_since(&h.db, from)[0].5["policy_document"],
        json!("user")
    );
    // Bob: the deployment's.
    refused(
        &h,
        &mut bob,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_RAW_DIGEST_DISABLED",
    );
    allowed(
        &h,
        &mut bob,
        "/guardian/sign-message",
        json!({"message": "hi"}),
    );
    // Her override dropped, the deployment's applies to her too.
    admin(&h, "DELETE", &user_path(&alice_id), ADMIN_TOKEN, None);
    refused(
        &h,
        &mut alice,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_RAW_DIGEST_DISABLED",
    );
    // A document can be set for a user who has not logged in yet.
    put(&h, &user_path("okta:00uNOTYET"), json!({}));
}

#[test]
fn the_rolling_period_counts_signatures_and_value_and_refusals_count_nothing() {
    let h = harness();
    // The clock moves by up to 20 minutes between two calls of one chain.
    h.set_var("token_ttl_seconds", "7200");
    let (mut t, id) = user(&h, "00uPERIOD");
    let (mut other, _) = user(&h, "00uPERIOD2");
    put(
        &h,
        "/guardian/policy",
        json!({"period": {"seconds": 3600, "max_count": 3, "max_value": "100"}}),
    );
    allowed(&h, &mut t, "/guardian/sign-tx", tx(1, Some(VAULT), "60"));
    refused(
        &h,
        &mut t,
        "/guardian/sign-tx",
        tx(1, Some(VAULT), "41"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
    h.advance_secs(1200);
    allowed(&h, &mut t, "/guardian/sign-tx", tx(1, Some(VAULT), "40"));
    assert_eq!(events(&h), 2);
    // A signature that fails after the policy allowed it (a typed-data value that does not fit
    // its type) is not counted.
    let mut bad = typed("Game", 1, GAME, "Move");
    bad["typed_data"]["message"]["x"] = json!(-1);
    let r = call(&h, &mut t, "/guardian/sign-typed-data", bad);
    assert_error(&r, 400, "INVALID_TYPED_DATA");
    assert_eq!(events(&h), 2);
    h.advance_secs(1200);
    allowed(
        &h,
        &mut t,
        "/guardian/sign-message",
        json!({"message": "hi"}),
    );
    refused(
        &h,
        &mut t,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_PERIOD_COUNT_EXCEEDED",
    );
    assert_eq!(events(&h), 3);
    // Another user has a period of their own.
    allowed(
        &h,
        &mut other,
        "/guardian/sign-tx",
        tx(1, Some(VAULT), "100"),
    );
    // The window rolls: the first signature is in it for exactly an hour.
    h.advance_secs(1199);
    refused(
        &h,
        &mut t,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_PERIOD_COUNT_EXCEEDED",
    );
    h.advance_secs(1);
    refused(
        &h,
        &mut t,
        "/guardian/sign-tx",
        tx(1, Some(VAULT), "61"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
    allowed(&h, &mut t, "/guardian/sign-tx", tx(1, Some(VAULT), "60"));
    // Old events were dropped under the user's lock (the table stays bounded).
    let theirs = h.count(&format!(
        "SELECT COUNT(*) FROM gd_policy_event WHERE user_id = '{id}'"
    ));
    assert_eq!(theirs, 3);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_policy_lock"), 2);
}

/// The policy language's examples in docs/guardian.md parse, and the JSON Schema beside it
/// declares exactly the fields the parser takes.
#[test]
fn the_documented_examples_parse_and_the_schema_matches_the_parser() {
    use guardian_core::policy::{self as p, Policy};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../docs/");
    let page = std::fs::read_to_string(format!("{root}guardian.md")).unwrap();
    let section = page
        .split("## Design: signing policies")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut examples = 0;
    for block in section.split("```json").skip(1) {
        let text = block.split("```").next().unwrap();
        let doc: Value = serde_json::from_str(text).unwrap();
        Policy::parse(&doc).unwrap_or_else(|e| panic!("{e}: {text}"));
        examples += 1;
    }
    assert!(examples >= 2, "the treasury and game wallet profiles");
    for rule in p::Rule::ALL {
        assert!(
            section.contains(rule.code()),
            "{} is not documented",
            rule.code()
        );
        assert!(page.contains(&format!("`{}`", rule.code())));
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}guardian-policy.schema.json")).unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| -> Vec<String> {
        assert_eq!(v["additionalProperties"], json!(false), "{v}");
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let sorted = |k: &[&str]| -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    let props = &schema["properties"];
    assert_eq!(keys(&schema), sorted(p::KEYS));
    assert_eq!(keys(&props["transactions"]), sorted(p::TRANSACTION_KEYS));
    assert_eq!(keys(&props["typed_data"]), sorted(p::TYPED_DATA_KEYS));
    assert_eq!(keys(&schema["$defs"]["domain"]), sorted(p::DOMAIN_KEYS));
    assert_eq!(keys(&props["eip7702"]), sorted(p::EIP7702_KEYS));
    assert_eq!(keys(&props["period"]), sorted(p::PERIOD_KEYS));
}

#[test]
fn the_openapi_document_describes_the_policy_routes_and_codes() {
    let doc: Value = serde_json::from_str(guardian_service::OPENAPI_JSON).unwrap();
    for path in ["/guardian/policy", "/guardian/policy/user"] {
        for method in ["get", "put", "delete"] {
            let op = &doc["paths"][path][method];
            assert_eq!(op["security"], json!([{"admin": []}]), "{path} {method}");
        }
    }
    assert_eq!(
        doc["paths"]["/guardian/policy"]["put"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/Policy"
    );
    let codes = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"].clone();
    for rule in guardian_core::policy::Rule::ALL {
        assert!(
            codes.as_array().unwrap().contains(&json!(rule.code())),
            "{}",
            rule.code()
        );
    }
    for code in ["INVALID_POLICY", "POLICY_NOT_FOUND"] {
        assert!(codes.as_array().unwrap().contains(&json!(code)), "{code}");
    }
    for path in [
        "/guardian/sign",
        "/guardian/sign-tx",
        "/guardian/sign-message",
        "/guardian/sign-typed-data",
        "/guardian/sign-authorization",
    ] {
        assert!(
            doc["paths"][path]["post"]["responses"]["403"].is_object(),
            "{path}"
        );
    }
}
