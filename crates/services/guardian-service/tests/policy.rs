//! docs/guardian.md, "Design: signing policies": every rule's allowance and refusal on the signing
//! routes and the user override (the test kit's guardian scenarios, which keyward-e2e runs over
//! HTTP too), what only a native run sees (the audit trail's decisions, the policy tables), the
//! maintainer's routes, the rolling period, and the documentation's examples and schema.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use guest_kit::Request;
use keyward_test_kit::audit::{Row, rows_since};
use keyward_test_kit::scenarios::guardian::{self as gd, *};
use keyward_test_kit::secrets::OKTA_BASE_URL;
use keyward_test_kit::{Driver, NativeDriver};
use serde_json::{Value, json};

/// A fresh deployment with the scenarios' settings, its Okta the kit's stand-in.
fn driver() -> Box<NativeDriver> {
    let mut vars = SETTINGS.to_vec();
    vars.push(("okta_base_url", OKTA_BASE_URL));
    Box::new(NativeDriver::new(DB, &vars).with_outbound(OktaStandIn))
}

keyward_test_kit::guardian_policy_scenario_tests!(driver());

/// The audit trail of `d`, every record.
fn trail(d: &NativeDriver) -> Vec<Row> {
    rows_since(&d.db(), 0)
}

fn events(d: &NativeDriver) -> i64 {
    d.count("SELECT COUNT(*) FROM gd_policy_event")
}

/// Every signing record of the rules scenario names the decision and the document that made it:
/// none before a document was set, `allowed` or the refusal's own code after, and none for a bad
/// request the policy never saw; every rule but the period's refused at least once; no period,
/// so no event kept.
#[test]
fn every_decision_is_in_the_audit_trail_with_the_document_that_made_it() {
    let d = driver();
    gd::every_policy_rule_allows_and_refuses_with_its_code(&*d);
    let rows = trail(&d);
    let first_set = rows.iter().position(|r| r.0 == "policy.set").unwrap();
    let signing = |r: &&Row| r.0.starts_with("sign.");
    let before: Vec<&Row> = rows[..first_set].iter().filter(signing).collect();
    assert_eq!(before.len(), 5, "{rows:?}");
    for row in before {
        assert_eq!(row.1, "success", "{row:?}");
        assert!(row.5.get("policy").is_none(), "{row:?}");
        assert!(row.5.get("policy_document").is_none(), "{row:?}");
    }
    let mut refused = Vec::new();
    for row in rows[first_set..].iter().filter(signing) {
        let (policy, document) = (&row.5["policy"], &row.5["policy_document"]);
        match row.2.as_str() {
            "" => assert_eq!(
                (policy, document),
                (&json!("allowed"), &json!("deployment"))
            ),
            "INVALID_RAW_DATA" => assert_eq!((policy, document), (&Value::Null, &Value::Null)),
            code => {
                assert_eq!(
                    (policy, document),
                    (&json!(code), &json!("deployment")),
                    "{row:?}"
                );
                refused.push(code.to_owned());
            }
        }
    }
    refused.sort();
    refused.dedup();
    let mut rules: Vec<String> = guardian_core::policy::Rule::ALL
        .iter()
        .map(|r| r.code().to_owned())
        .filter(|c| !c.starts_with("POLICY_PERIOD_"))
        .collect();
    rules.sort();
    assert_eq!(refused, rules);
    assert_eq!(events(&d), 0);
}

/// In the override scenario, the refusal under Alice's document names `user`, the deployment's
/// refusals (Bob's, and Alice's once hers is gone) `deployment`.
#[test]
fn a_decision_under_a_users_document_names_it_in_the_audit_trail() {
    let d = driver();
    gd::a_user_document_beats_the_deployments_and_only_the_maintainer_sets_one(&*d);
    let documents = |code: &str| -> Vec<Value> {
        trail(&d)
            .into_iter()
            .filter(|r| r.2 == code)
            .map(|r| r.5["policy_document"].clone())
            .collect()
    };
    assert_eq!(documents("POLICY_PERSONAL_SIGN_DISABLED"), [json!("user")]);
    assert_eq!(
        documents("POLICY_RAW_DIGEST_DISABLED"),
        [json!("deployment"), json!("deployment")]
    );
}

#[test]
fn only_the_maintainer_sets_reads_and_drops_policies() {
    let d = driver();
    let t = login(&*d, "MAINT");
    let id = "okta:00uMAINT";
    let doc = json!({"chain_ids": [1]});
    // No bearer: 401 (a user's token and a wrong bearer: the override scenario), nothing stored.
    let r = (&*d as &dyn Driver).call("PUT", "/guardian/policy", &[], doc.to_string().as_bytes());
    expect_error(&r, 401, "AUTH_INVALID");
    assert_eq!(d.count("SELECT COUNT(*) FROM gd_policy"), 0);
    // The user's own token cannot set one either (the signing component has no such route).
    let sign = guardian_service::COMPONENTS
        .iter()
        .find(|c| c.id == "guardian-sign")
        .unwrap();
    let r = d.invoke(
        *sign,
        Request::new("PUT", "/guardian/policy")
            .with_header("authorization", format!("Bearer {t}"))
            .with_body(doc.to_string()),
    );
    assert_eq!(r.status, 404);
    d.unset_var("admin_token");
    let r = admin(&*d, "GET", "/guardian/policy", ADMIN_TOKEN, None);
    expect_error(&r, 403, "ADMIN_DISABLED");
    d.set_var("admin_token", ADMIN_TOKEN);

    // Not found until set; PUT answers the normal form, GET the same; DELETE once.
    let get = |path: &str| admin(&*d, "GET", path, ADMIN_TOKEN, None);
    expect_error(&get("/guardian/policy"), 404, "POLICY_NOT_FOUND");
    let normal = put(
        &*d,
        "/guardian/policy",
        &json!({"chain_ids": ["1"], "raw_digest": false}),
    );
    assert_eq!(normal["chain_ids"], json!([1]));
    assert_eq!(normal["raw_digest"], json!(false));
    assert_eq!(normal["eip7702"], json!({"allowed": false}));
    assert_eq!(get("/guardian/policy").json(), normal);
    // The user's document is its own.
    let theirs = user_path("MAINT");
    expect_error(&get(&theirs), 404, "POLICY_NOT_FOUND");
    put(&*d, &theirs, &json!({}));
    assert_eq!(get(&theirs).json()["raw_digest"], json!(true));
    let r = admin(&*d, "DELETE", &theirs, ADMIN_TOKEN, None);
    assert_eq!(r.json(), json!({"deleted": true}));
    let r = admin(&*d, "DELETE", &theirs, ADMIN_TOKEN, None);
    expect_error(&r, 404, "POLICY_NOT_FOUND");
    // The deployment's stays.
    assert_eq!(get("/guardian/policy").json(), normal);

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
        let r = admin(&*d, "PUT", "/guardian/policy", ADMIN_TOKEN, Some(&doc));
        let j = expect_error(&r, 400, "INVALID_POLICY");
        assert!(j["message"].as_str().unwrap().contains(words), "{j}");
    }
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = (&*d as &dyn Driver).call(
        "PUT",
        "/guardian/policy",
        &[("authorization", &auth)],
        b"{not json",
    );
    expect_error(&r, 400, "INVALID_POLICY");
    assert_eq!(get("/guardian/policy").json(), normal);
    for path in [
        "/guardian/policy/user",
        "/guardian/policy/user?user=",
        "/guardian/policy/user?user=a&user=b",
        "/guardian/policy/user?who=a",
    ] {
        expect_error(&get(path), 400, "BAD_REQUEST");
    }
    let r = admin(&*d, "POST", "/guardian/policy", ADMIN_TOKEN, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE"));

    // Every call is audited, by the maintainer, with the scope; never the document's body.
    let rows = trail(&d);
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
fn the_rolling_period_counts_signatures_and_value_and_refusals_count_nothing() {
    let d = driver();
    // The clock moves by up to 20 minutes between two calls of one chain.
    d.set_var("token_ttl_seconds", "7200");
    let mut t = Signer::login(&*d, "PERIOD");
    let mut other = Signer::login(&*d, "PERIOD2");
    put(
        &*d,
        "/guardian/policy",
        &json!({"period": {"seconds": 3600, "max_count": 3, "max_value": "100"}}),
    );
    let (sign, sign_tx) = ("/guardian/sign", "/guardian/sign-tx");
    t.allowed(sign_tx, tx(1, Some(VAULT), "60"));
    t.refused(
        sign_tx,
        tx(1, Some(VAULT), "41"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
    d.advance_secs(1200);
    t.allowed(sign_tx, tx(1, Some(VAULT), "40"));
    assert_eq!(events(&d), 2);
    // A signature that fails after the policy allowed it (a typed-data value that does not fit
    // its type) is not counted.
    let mut bad = typed("Game", 1, GAME, "Move");
    bad["typed_data"]["message"]["x"] = json!(-1);
    let r = t.call("/guardian/sign-typed-data", &bad);
    expect_error(&r, 400, "INVALID_TYPED_DATA");
    assert_eq!(events(&d), 2);
    d.advance_secs(1200);
    t.allowed("/guardian/sign-message", json!({"message": "hi"}));
    t.refused(
        sign,
        json!({"raw_data": RAW}),
        "POLICY_PERIOD_COUNT_EXCEEDED",
    );
    assert_eq!(events(&d), 3);
    // Another user has a period of their own.
    other.allowed(sign_tx, tx(1, Some(VAULT), "100"));
    // The window rolls: the first signature is in it for exactly an hour.
    d.advance_secs(1199);
    t.refused(
        sign,
        json!({"raw_data": RAW}),
        "POLICY_PERIOD_COUNT_EXCEEDED",
    );
    d.advance_secs(1);
    t.refused(
        sign_tx,
        tx(1, Some(VAULT), "61"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
    t.allowed(sign_tx, tx(1, Some(VAULT), "60"));
    // Old events were dropped under the user's lock (the table stays bounded).
    let theirs = d.count("SELECT COUNT(*) FROM gd_policy_event WHERE user_id = 'okta:00uPERIOD'");
    assert_eq!(theirs, 3);
    assert_eq!(d.count("SELECT COUNT(*) FROM gd_policy_lock"), 2);
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
