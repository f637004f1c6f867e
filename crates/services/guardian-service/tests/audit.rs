//! The audit trail as guardian writes it (docs/OPERATIONS.md, "Audit trail"), on a real SQLite
//! file: one record per request that names an action, in the request's transaction, with the
//! actor, the object and the details of the action and never a secret.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use audit_chain::Record;
use common::*;
use guest_kit::{Db, Request, Response};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::TestSigner;
use keyward_test_kit::audit::{Row, row};
use keyward_test_kit::scenarios::guardian::{ADDR0, ADDR2, vector};
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery-staple";
const WRONG_PASSWORD: &str = "tr0ub4dor-and-3";
const ADMIN_TOKEN: &str = "admin-token-for-the-audit-test";
const OKTA_API_TOKEN: &str = "okta-api-token-for-the-audit-test";
const CLIENT: &str = "198.51.100.7";

/// Every record, in order, with its link.
fn records(h: &Harness) -> Vec<(Record, String)> {
    keyward_test_kit::audit::records(&h.db)
}

/// Checks the whole chain and its head; the number of records.
fn verify(h: &Harness) -> i64 {
    keyward_test_kit::audit::verify(&h.db)
}

fn summary(h: &Harness, from: usize) -> Vec<Row> {
    keyward_test_kit::audit::rows_since(&h.db, from)
}

/// How the trail names a token: the first 16 hex digits of its stored SHA-256.
fn id(token: &str) -> String {
    guardian_service::store::digest_hex(token)[..16].to_owned()
}

/// Okta accepts [`PASSWORD`] for anyone and says the user is `okta_id`.
fn okta(h: &Harness, okta_id: &'static str) {
    h.idp(move |req, _| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if body["password"] != PASSWORD {
            return status(
                401,
                json!({"errorCode": "E0000004", "errorSummary": "Authentication failed"}),
            );
        }
        ok(
            json!({"status": "SUCCESS", "sessionToken": "okta-session-token",
                  "_embedded": {"user": {"id": okta_id}}}),
        )
    });
}

fn with_client(req: Request) -> Request {
    req.with_header("spin-client-addr", format!("{CLIENT}:5000"))
}

fn sign(h: &Harness, method: &str, path: &str, token: &str, body: Option<Value>) -> Response {
    let mut req = with_client(Request::new(method, path))
        .with_header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.with_body(b.to_string());
    }
    h.sign_req(req)
}

/// A signing call expected to succeed: moves `t` on to the fresh token, returns the body.
#[track_caller]
fn chained(
    h: &Harness,
    t: &mut String,
    method: &str,
    path: &str,
    body: Option<Value>,
    tokens: &mut Vec<String>,
) -> Value {
    let r = sign(h, method, path, t, body);
    assert_eq!(r.status, 200, "{}", json(&r));
    *t = fresh(&r);
    tokens.push(t.clone());
    json(&r)
}

fn authorize(h: &Harness, bearer: &str, body: Value) -> Response {
    h.admin_req(
        with_client(Request::new("POST", "/guardian/authorize"))
            .with_header("authorization", format!("Bearer {bearer}"))
            .with_body(body.to_string()),
    )
}

#[test]
fn each_action_leaves_one_record_with_its_actor_object_and_outcome() {
    let h = Harness::new();
    h.set_var("admin_token", ADMIN_TOKEN);
    h.set_var("allow_export", "true");
    h.insert_user("okta:00uHARDHAT", HARDHAT, ADDR0);
    let mut tokens = Vec::new();

    // Logins: an existing key, a wrong password, a key created.
    okta(&h, "00uHARDHAT");
    let r = h.login(json!({"okta_username": "Hardhat@Example.com", "okta_password": PASSWORD}));
    assert_eq!(r.status, 200, "{}", json(&r));
    let login_token = json(&r)["client_token"].as_str().unwrap().to_owned();
    tokens.push(login_token.clone());
    let r =
        h.login(json!({"okta_username": "Mallory@Example.COM", "okta_password": WRONG_PASSWORD}));
    assert_error(&r, 401, "IDP_INVALID_CREDENTIALS");

    // A signature of each kind, and an address read.
    let mut t = login_token.clone();
    let mut call = |method: &str, path: &str, body: Option<Value>| {
        let before = t.clone();
        let j = chained(&h, &mut t, method, path, body, &mut tokens);
        (j, before, t.clone())
    };
    let digest = vector("hardhat-0-sign");
    let (_, t0, t1) = call(
        "POST",
        "/guardian/sign",
        Some(json!({"raw_data": digest["raw_data"]})),
    );
    let message = vector("hardhat-0-eip191-hello");
    let (_, _, t2) = call(
        "POST",
        "/guardian/sign-message",
        Some(json!({"message": "hello"})),
    );
    let mail = vector("hardhat-0-eip712-mail");
    let (_, _, t3) = call(
        "POST",
        "/guardian/sign-typed-data",
        Some(json!({"typed_data": mail["typed_data"]})),
    );
    let legacy = vector("hardhat-0-eip155");
    let (_, _, t4) = call("POST", "/guardian/sign-tx", Some(legacy["request"].clone()));
    let eip1559 = vector("hardhat-2-eip1559");
    let (_, _, t5) = call(
        "POST",
        "/guardian/sign-tx",
        Some(eip1559["request"].clone()),
    );
    let (_, _, t6) = call("GET", "/guardian/address?address_index=2", None);

    // An authentication failure: the login token again, already spent.
    let r = sign(
        &h,
        "POST",
        "/guardian/sign",
        &t0,
        Some(json!({"raw_data": digest["raw_data"]})),
    );
    assert_error(&r, 401, "AUTH_INVALID");

    // A first login creates the key; its login token exports it.
    okta(&h, "00uNEW");
    let r = h.login(json!({"okta_username": "new@example.com", "okta_password": PASSWORD}));
    assert_eq!(json(&r)["created"], true);
    let new_address = json(&r)["address"].as_str().unwrap().to_owned();
    let new_token = json(&r)["client_token"].as_str().unwrap().to_owned();
    tokens.push(new_token.clone());
    let r = h.export_req(
        with_client(Request::new("POST", "/guardian/export"))
            .with_header("authorization", format!("Bearer {new_token}")),
    );
    assert_eq!(r.status, 200, "{}", json(&r));
    let exported = json(&r)["mnemonic"].as_str().unwrap().to_owned();

    // The maintainer: a wrong bearer, then new settings.
    assert_error(
        &authorize(&h, "not-the-admin-token", json!({"okta_group": "g"})),
        401,
        "AUTH_INVALID",
    );
    let r = authorize(
        &h,
        ADMIN_TOKEN,
        json!({"okta_token": OKTA_API_TOKEN, "okta_group": "wallet-users"}),
    );
    assert_eq!(r.status, 200, "{}", json(&r));

    // Neither a route that does not exist nor the OpenAPI document is an action.
    assert_eq!(sign(&h, "GET", "/guardian/nope", &t6, None).status, 404);
    let r = h.login_req(Request::new("GET", "/guardian/openapi.json"));
    assert_eq!(r.status, 200);

    let hardhat = "user=okta:00uHARDHAT";
    let new = "user=okta:00uNEW";
    let mut settings = summary(&h, 0).pop().unwrap();
    // The order of the names is the body's; compare them as sets.
    let mut set: Vec<String> = serde_json::from_value(settings.5["set"].take()).unwrap();
    set.sort();
    assert_eq!(set, ["okta_api_token", "okta_group"]);
    assert_eq!(
        settings,
        row(
            "settings.update",
            "success",
            "",
            "admin",
            "identity_provider",
            json!({"set": null, "cleared": []})
        )
    );
    let all = summary(&h, 0);
    assert_eq!(
        all[..all.len() - 1],
        [
            row(
                "user.login",
                "success",
                "",
                hardhat,
                ADDR0,
                // The hardhat user was written before its first login: that login binds it
                // to the Okta org (docs/guardian.md, "User identity").
                json!({"method": "okta", "created": false, "provider_bound": true,
                       "token_issued": id(&login_token)}),
            ),
            row(
                "user.login",
                "failure",
                "IDP_INVALID_CREDENTIALS",
                "username=mallory@example.com",
                "",
                json!({"method": "okta"}),
            ),
            row(
                "sign.digest",
                "success",
                "",
                hardhat,
                ADDR0,
                json!({"token": id(&t0), "token_issued": id(&t1), "address_index": 0,
                       "digest": format!("0x{}", digest["raw_data"].as_str().unwrap())}),
            ),
            row(
                "sign.message",
                "success",
                "",
                hardhat,
                ADDR0,
                json!({"token": id(&t1), "token_issued": id(&t2), "address_index": 0,
                       "digest": message["message_hash"]}),
            ),
            row(
                "sign.typed_data",
                "success",
                "",
                hardhat,
                ADDR0,
                json!({"token": id(&t2), "token_issued": id(&t3), "address_index": 0,
                       "primary_type": "Mail", "chain_id": 1,
                       "verifying_contract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
                       "digest": mail["digest"]}),
            ),
            row(
                "sign.transaction",
                "success",
                "",
                hardhat,
                ADDR0,
                json!({"token": id(&t3), "token_issued": id(&t4), "address_index": 0,
                       "tx_type": 0, "chain_id": 1, "nonce": 9,
                       "to": "0x3535353535353535353535353535353535353535",
                       "value": "1000000000000000000",
                       "digest": legacy["signing_hash"], "tx_hash": legacy["tx_hash"]}),
            ),
            row(
                "sign.transaction",
                "success",
                "",
                hardhat,
                ADDR2,
                json!({"token": id(&t4), "token_issued": id(&t5), "address_index": 2,
                       "tx_type": 2, "chain_id": 1, "nonce": 0,
                       "to": "0x3535353535353535353535353535353535353535",
                       "value": "1000000000000000000",
                       "digest": eip1559["signing_hash"], "tx_hash": eip1559["tx_hash"]}),
            ),
            row(
                "address.read",
                "success",
                "",
                hardhat,
                ADDR2,
                json!({"token": id(&t5), "token_issued": id(&t6), "address_index": 2}),
            ),
            // The spent token's name is the one its first use consumed: a replay.
            row(
                "sign.digest",
                "failure",
                "AUTH_INVALID",
                "",
                "",
                json!({"token": id(&t0)}),
            ),
            row(
                "user.login",
                "success",
                "",
                new,
                &new_address,
                json!({"method": "okta", "created": true, "token_issued": id(&new_token)}),
            ),
            row(
                "key.export",
                "success",
                "",
                new,
                &new_address,
                json!({"token": id(&new_token), "hd_path": "m/44'/60'/0'/0/0"}),
            ),
            row(
                "settings.update",
                "failure",
                "AUTH_INVALID",
                "",
                "identity_provider",
                json!({}),
            ),
        ]
    );

    let trail = records(&h);
    for (r, _) in &trail {
        assert_eq!(r.service, "guardian");
        assert!(!r.request_id.is_empty());
        let client = if r.action == "user.login" {
            "127.0.0.1"
        } else {
            CLIENT
        };
        assert_eq!(r.client, client, "{r:?}");
    }
    assert_eq!(verify(&h), 13);

    // No secret of the run reaches the trail.
    let text: String = trail.iter().map(|(r, mac)| format!("{r:?}{mac}")).collect();
    assert_eq!(tokens.len(), 8);
    let mut secrets = vec![
        PASSWORD,
        WRONG_PASSWORD,
        ADMIN_TOKEN,
        OKTA_API_TOKEN,
        "okta-session-token",
        MASTER,
        HARDHAT,
        exported.as_str(),
    ];
    secrets.extend(tokens.iter().map(String::as_str));
    for secret in secrets {
        assert!(!text.contains(secret), "a secret reached the audit trail");
    }
}

const ISS: &str = OIDC_ISSUER;

#[test]
fn an_oidc_login_names_the_subject_and_a_replayed_id_token() {
    let signer = TestSigner::new(Algorithm::ES256, "es");
    let h = Harness::oidc(&[&signer]);
    let now = h.now.get() / 1000;
    let id_token = signer.sign(&json!({"iss": ISS, "aud": "guardian", "sub": "s-1",
                                        "iat": now, "exp": now + 600}));
    let r = h.login(json!({"id_token": id_token}));
    assert_eq!(r.status, 200, "{}", json(&r));
    let address = json(&r)["address"].as_str().unwrap().to_owned();
    let token = json(&r)["client_token"].as_str().unwrap().to_owned();
    assert_error(
        &h.login(json!({"id_token": id_token})),
        401,
        "ID_TOKEN_INVALID",
    );
    // Not even a signature: no subject to name.
    assert_error(
        &h.login(json!({"id_token": "a.b.c"})),
        401,
        "ID_TOKEN_INVALID",
    );

    let user = format!("user=oidc:{ISS}#s-1");
    // Named by its signing input (the token without its signature), as single use keeps it.
    let spent = id(id_token.rsplit_once('.').unwrap().0);
    assert_eq!(
        summary(&h, 0),
        [
            row(
                "user.login",
                "success",
                "",
                &user,
                &address,
                json!({"method": "oidc", "id_token": spent, "id_token_spent": true,
                       "created": true, "token_issued": id(&token)}),
            ),
            row(
                "user.login",
                "failure",
                "ID_TOKEN_INVALID",
                &user,
                "",
                json!({"method": "oidc", "id_token": spent}),
            ),
            row(
                "user.login",
                "failure",
                "ID_TOKEN_INVALID",
                "",
                "",
                json!({"method": "oidc"}),
            ),
        ]
    );
    assert_eq!(verify(&h), 3);
    let text: String = records(&h)
        .iter()
        .map(|(r, mac)| format!("{r:?}{mac}"))
        .collect();
    for secret in [id_token.as_str(), token.as_str(), MASTER] {
        assert!(!text.contains(secret), "a secret reached the audit trail");
    }
}

#[test]
fn an_action_whose_record_cannot_be_written_does_not_happen() {
    let (h, t) = Harness::hardhat();
    let before = records(&h).len();
    let tokens = h.count("SELECT COUNT(*) FROM gd_token");

    h.db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit storage refused'); END",
        &[],
    )
    .unwrap();
    let raw = json!({"raw_data": vector("hardhat-0-sign")["raw_data"]});
    let r = sign(&h, "POST", "/guardian/sign", &t, Some(raw.clone()));
    let j = assert_error(&r, 503, "AUDIT_UNAVAILABLE");
    assert!(j.get("signature").is_none() && j.get("fresh_client_token").is_none());
    // A login and a refusal that touched nothing are refused too.
    assert_error(
        &h.login(json!({"okta_username": "u", "okta_password": "pw"})),
        503,
        "AUDIT_UNAVAILABLE",
    );
    assert_error(
        &sign(&h, "GET", "/guardian/sign", &"A".repeat(43), None),
        503,
        "AUDIT_UNAVAILABLE",
    );
    h.db.execute("DROP TRIGGER refuse_audit", &[]).unwrap();

    // Nothing happened: no record, no token spent or minted; the token still signs.
    assert_eq!(records(&h).len(), before);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_token"), tokens);
    let r = sign(&h, "POST", "/guardian/sign", &t, Some(raw));
    assert_eq!(r.status, 200, "{}", json(&r));
    assert_eq!(verify(&h), i64::try_from(before).unwrap() + 1);
}

#[test]
fn an_action_rolled_back_for_a_server_error_leaves_no_record() {
    let (h, t) = Harness::hardhat();
    let before = records(&h).len();
    // A stored key that no longer opens: the signature fails with 500 and rolls back.
    h.db.execute("UPDATE gd_user SET mnemonic_ct = 'AAAA'", &[])
        .unwrap();
    let r = sign(&h, "GET", "/guardian/sign", &t, None);
    let j = assert_error(&r, 500, "KEY_UNAVAILABLE");
    assert_eq!(records(&h).len(), before);
    // The token was not spent, so no fresh one is handed out.
    assert!(j.get("fresh_client_token").is_none());
    assert_eq!(
        // An Okta login's token ("Design: export").
        h.count("SELECT COUNT(*) FROM gd_token WHERE kind = 'reauth'"),
        1
    );
    assert_eq!(verify(&h), i64::try_from(before).unwrap());
}
