//! guardian's signing policies (docs/guardian.md, "Design: signing policies") through the host:
//! every rule allows and refuses with its code over HTTP, a user's document beats the
//! deployment's, only the maintainer sets one, and the rolling period's limits hold exactly when
//! 64 clients race over two hosts sharing one store. Runs on both passes of `cargo xtask test`
//! (embedded SQLite, then PostgreSQL).

use keyward_e2e::guardian as gd;
use keyward_e2e::{Host, HostBuilder, Resp, Value, json};

const ADMIN_TOKEN: &str = "admin-token-for-the-guardian-policy-e2e";
const RAW: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";
const GAME: &str = "0x1111111111111111111111111111111111111111";
const VAULT: &str = "0x2222222222222222222222222222222222222222";
const BAD: &str = "0x3333333333333333333333333333333333333333";
const OTHER: &str = "0x4444444444444444444444444444444444444444";

fn builder(okta: u16) -> HostBuilder {
    gd::builder(
        okta,
        1,
        &[
            ("admin_token", ADMIN_TOKEN),
            ("login_user_rate_limit_per_minute", "1000"),
            ("login_rate_limit_per_minute", "1000"),
        ],
    )
}

fn two_hosts(okta: u16) -> (tempfile::TempDir, Host, Host) {
    let state = tempfile::tempdir().unwrap();
    let a = builder(okta).state_dir(state.path()).start();
    let b = builder(okta).state_dir(state.path()).start();
    (state, a, b)
}

fn admin(h: &Host, method: &str, path: &str, bearer: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {bearer}");
    let text = body.map(Value::to_string);
    h.req(
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        text.as_deref().map(str::as_bytes),
    )
}

#[track_caller]
fn put(h: &Host, path: &str, doc: &Value) -> Value {
    let r = admin(h, "PUT", path, ADMIN_TOKEN, Some(doc));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// `okta:00u<name>`, percent-encoded for the user route.
fn user_path(name: &str) -> String {
    format!("/guardian/policy/user?user=okta%3A00u{name}")
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

fn authorization(chain_id: u64, delegate: &str) -> Value {
    json!({"chain_id": chain_id, "address": delegate, "nonce": 0})
}

/// One signing call with `t`, which moves on to the fresh token.
fn call(h: &Host, t: &mut String, path: &str, body: &Value) -> Resp {
    let r = gd::post(h, path, Some(t), body);
    if r.status < 500 {
        *t = gd::fresh(&r);
    }
    r
}

#[track_caller]
fn allowed(h: &Host, t: &mut String, path: &str, body: Value) {
    let r = call(h, t, path, &body);
    assert_eq!(r.status, 200, "{path} {body}: {}", r.text());
}

#[track_caller]
fn refused(h: &Host, t: &mut String, path: &str, body: Value, code: &str) {
    let r = call(h, t, path, &body);
    gd::expect_error(&r, 403, code);
}

#[test]
fn every_rule_allows_and_refuses_with_its_code_over_http() {
    let okta = gd::okta_stub();
    let h = builder(okta.port).start();
    let mut t = gd::token_of(&gd::login(&h, "rules"));
    // No document: everything signs, as before policies.
    allowed(&h, &mut t, "/guardian/sign", json!({"raw_data": RAW}));
    allowed(
        &h,
        &mut t,
        "/guardian/sign-authorization",
        authorization(1, GAME),
    );
    put(
        &h,
        "/guardian/policy",
        &json!({
            "chain_ids": [1, 8453],
            "transactions": {"to_allow": [GAME, VAULT, BAD], "to_deny": [BAD],
                             "contract_creation": false, "max_value": "1000"},
            "typed_data": {"domains": [{"name": "Game", "chain_id": 8453, "verifying_contract": GAME}],
                           "primary_types": ["Move"]},
            "raw_digest": false,
            "personal_sign": false,
            "eip7702": {"allowed": true, "delegates": [GAME]},
        }),
    );
    let (txp, tdp, ap) = (
        "/guardian/sign-tx",
        "/guardian/sign-typed-data",
        "/guardian/sign-authorization",
    );
    allowed(&h, &mut t, txp, tx(1, Some(VAULT), "1000"));
    allowed(&h, &mut t, txp, tx(8453, Some(GAME), "0"));
    refused(
        &h,
        &mut t,
        txp,
        tx(5, Some(VAULT), "1"),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        txp,
        tx(1, Some(BAD), "1"),
        "POLICY_RECIPIENT_DENIED",
    );
    refused(
        &h,
        &mut t,
        txp,
        tx(1, Some(OTHER), "1"),
        "POLICY_RECIPIENT_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        txp,
        tx(1, None, "0"),
        "POLICY_CONTRACT_CREATION_DISABLED",
    );
    refused(
        &h,
        &mut t,
        txp,
        tx(1, Some(VAULT), "1001"),
        "POLICY_VALUE_EXCEEDED",
    );
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
    allowed(&h, &mut t, tdp, typed("Game", 8453, GAME, "Move"));
    refused(
        &h,
        &mut t,
        tdp,
        typed("Gamf", 8453, GAME, "Move"),
        "POLICY_TYPED_DATA_DOMAIN",
    );
    refused(
        &h,
        &mut t,
        tdp,
        typed("Game", 8453, VAULT, "Move"),
        "POLICY_TYPED_DATA_DOMAIN",
    );
    refused(
        &h,
        &mut t,
        tdp,
        typed("Game", 10, GAME, "Move"),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        tdp,
        typed("Game", 8453, GAME, "Permit"),
        "POLICY_TYPED_DATA_PRIMARY_TYPE",
    );
    allowed(&h, &mut t, ap, authorization(8453, GAME));
    refused(
        &h,
        &mut t,
        ap,
        authorization(1, VAULT),
        "POLICY_DELEGATE_NOT_ALLOWED",
    );
    refused(
        &h,
        &mut t,
        ap,
        authorization(0, GAME),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    put(
        &h,
        "/guardian/policy",
        &json!({"transactions": {"allowed": false}, "typed_data": {"allowed": false}}),
    );
    refused(
        &h,
        &mut t,
        txp,
        tx(1, Some(VAULT), "0"),
        "POLICY_TRANSACTIONS_DISABLED",
    );
    refused(
        &h,
        &mut t,
        tdp,
        typed("Game", 8453, GAME, "Move"),
        "POLICY_TYPED_DATA_DISABLED",
    );
    // A document that does not allow EIP-7702 refuses every authorization.
    refused(
        &h,
        &mut t,
        ap,
        authorization(1, GAME),
        "POLICY_EIP7702_DISABLED",
    );
    allowed(&h, &mut t, "/guardian/sign", json!({"raw_data": RAW}));
}

#[test]
fn a_user_document_beats_the_deployments_and_only_the_maintainer_sets_one() {
    let okta = gd::okta_stub();
    let h = builder(okta.port).start();
    let mut alice = gd::token_of(&gd::login(&h, "alice"));
    let mut bob = gd::token_of(&gd::login(&h, "bob"));
    let doc = json!({"raw_digest": false});
    // A user's token, a wrong bearer: 401; through the signing component: no such route.
    for bearer in [alice.as_str(), "not-the-admin-token"] {
        gd::expect_error(
            &admin(&h, "PUT", "/guardian/policy", bearer, Some(&doc)),
            401,
            "AUTH_INVALID",
        );
        gd::expect_error(
            &admin(&h, "PUT", &user_path("alice"), bearer, Some(&doc)),
            401,
            "AUTH_INVALID",
        );
    }
    gd::expect_error(
        &admin(&h, "GET", "/guardian/policy", ADMIN_TOKEN, None),
        404,
        "POLICY_NOT_FOUND",
    );
    let r = admin(
        &h,
        "PUT",
        "/guardian/policy",
        ADMIN_TOKEN,
        Some(&json!({"raw_digest": "no"})),
    );
    let j = gd::expect_error(&r, 400, "INVALID_POLICY");
    assert!(j["message"].as_str().unwrap().contains("raw_digest"), "{j}");
    allowed(&h, &mut alice, "/guardian/sign", json!({"raw_data": RAW}));

    put(&h, "/guardian/policy", &doc);
    put(&h, &user_path("alice"), &json!({"personal_sign": false}));
    assert_eq!(
        admin(&h, "GET", &user_path("alice"), ADMIN_TOKEN, None).json()["personal_sign"],
        json!(false)
    );
    allowed(&h, &mut alice, "/guardian/sign", json!({"raw_data": RAW}));
    refused(
        &h,
        &mut alice,
        "/guardian/sign-message",
        json!({"message": "hi"}),
        "POLICY_PERSONAL_SIGN_DISABLED",
    );
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
    let r = admin(&h, "DELETE", &user_path("alice"), ADMIN_TOKEN, None);
    assert_eq!(r.json(), json!({"deleted": true}));
    refused(
        &h,
        &mut alice,
        "/guardian/sign",
        json!({"raw_data": RAW}),
        "POLICY_RAW_DIGEST_DISABLED",
    );
}

/// `n` tokens of one user, one login each.
fn tokens(h: &Host, user: &str, n: usize) -> Vec<String> {
    (0..n).map(|_| gd::token_of(&gd::login(h, user))).collect()
}

/// 64 clients, alternating between the hosts, each signing once with its own token; the
/// statuses and codes.
fn race(hosts: [&Host; 2], tokens: &[String], path: &str, body: &Value) -> Vec<(u16, String)> {
    keyward_e2e::race(tokens.len(), |i| {
        let r = gd::post(hosts[i % 2], path, Some(&tokens[i]), body);
        let code = if r.status == 200 {
            String::new()
        } else {
            r.error_code()
        };
        (r.status, code)
    })
}

#[track_caller]
fn exactly(results: &[(u16, String)], wins: usize, code: &str) {
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, c)| *s == 403 && c == code)
        .count();
    assert_eq!((ok, refused), (wins, results.len() - wins), "{results:?}");
}

#[test]
fn the_period_limits_hold_exactly_when_64_clients_race_over_two_hosts() {
    let okta = gd::okta_stub();
    let (_state, a, b) = two_hosts(okta.port);
    put(
        &a,
        "/guardian/policy",
        &json!({"period": {"seconds": 3600, "max_count": 10}}),
    );
    // The value limit: 10 transactions of 1 wei fit in 10 wei, the count is no limit.
    put(
        &b,
        &user_path("racer2"),
        &json!({"period": {"seconds": 3600, "max_count": 10000, "max_value": "10"}}),
    );
    let counted = tokens(&a, "racer1", 64);
    let results = race(
        [&a, &b],
        &counted,
        "/guardian/sign",
        &json!({"raw_data": RAW}),
    );
    exactly(&results, 10, "POLICY_PERIOD_COUNT_EXCEEDED");
    let valued = tokens(&b, "racer2", 64);
    let results = race(
        [&a, &b],
        &valued,
        "/guardian/sign-tx",
        &tx(1, Some(VAULT), "1"),
    );
    exactly(&results, 10, "POLICY_PERIOD_VALUE_EXCEEDED");
    // A transaction of value 0 still fits, at either host; one more wei does not.
    let mut t = gd::token_of(&gd::login(&a, "racer2"));
    allowed(&b, &mut t, "/guardian/sign-tx", tx(1, Some(VAULT), "0"));
    refused(
        &a,
        &mut t,
        "/guardian/sign-tx",
        tx(1, Some(VAULT), "1"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
}
