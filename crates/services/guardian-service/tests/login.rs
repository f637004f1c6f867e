//! Login (Okta flows with a scripted IdP), authorize and export, natively (docs/guardian.md,
//! "Design: login", "Design: authorize", "Design: export").

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use serde_json::{Value, json};

fn creds() -> Value {
    json!({"okta_username": "alice@example.com", "okta_password": "pw"})
}

fn mfa_required(base: &str) -> Value {
    json!({"status": "MFA_REQUIRED", "stateToken": "st1", "_embedded": {"factors": [
        {"id": "sms1", "factorType": "sms", "provider": "OKTA",
         "_links": {"verify": {"href": format!("{base}/api/v1/authn/factors/sms1/verify")}}},
        {"id": "opf1", "factorType": "push", "provider": "OKTA",
         "_links": {"verify": {"href": format!("{base}/api/v1/authn/factors/opf1/verify")}}}
    ]}})
}

fn challenge(base: &str, result: &str) -> Value {
    json!({"status": "MFA_CHALLENGE", "stateToken": "st1", "factorResult": result, "_links": {
        "next": {"href": format!("{base}/api/v1/authn/factors/opf1/verify")},
        "cancel": {"href": format!("{base}/api/v1/authn/cancel")}}})
}

fn success() -> Value {
    json!({"status": "SUCCESS", "sessionToken": "x", "_embedded": {"user": {"id": "00uPUSH"}}})
}

/// Okta asking for MFA (its factors' links at `base`) and answering every verify call with `verify`.
fn mfa_then(h: &Harness, base: &'static str, verify: Value) {
    h.idp(move |req, _| {
        if req.url.ends_with("/api/v1/authn") {
            ok(mfa_required(base))
        } else {
            ok(verify.clone())
        }
    });
}

/// Okta answering `/authn` with `authn` (and a skip link with MFA), then the push `waits` times
/// WAITING before SUCCESS.
fn push_succeeds_after(h: &Harness, authn: Value, waits: u32) {
    h.idp(move |req, fake| {
        if req.url.ends_with("/api/v1/authn") {
            return ok(authn.clone());
        }
        if req.url.ends_with("/skip") {
            return ok(mfa_required(OKTA));
        }
        let n = fake.counter.get();
        fake.counter.set(n + 1);
        if n < waits {
            ok(challenge(OKTA, "WAITING"))
        } else {
            ok(success())
        }
    });
}

#[test]
fn first_and_second_login() {
    let h = Harness::new();
    h.okta_success("00uALICE");
    let r = h.login(creds());
    assert_eq!(r.status, 200);
    let j = json(&r);
    assert_eq!(j["client_token"].as_str().map(str::len), Some(43));
    assert_eq!(j["created"], true);
    let addr = j["address"].as_str().expect("address").to_owned();
    // Same address again, no address unless asked; POST /guardian is the same handler.
    let r = h.login_req(Request::new("POST", "/guardian").with_body(creds().to_string()));
    let j = json(&r);
    assert_eq!(j["created"], false);
    assert!(j.get("address").is_none());
    let mut body = creds();
    body["get_address"] = json!(true);
    let j = json(&h.login(body));
    assert_eq!(j["address"], addr.as_str());
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 1);
    // The stored ciphertext is not the mnemonic.
    let rows = h.db_text("SELECT mnemonic_ct FROM gd_user");
    assert!(!rows.contains(' '));
    // Okta got exactly username/password.
    let reqs = h.fake.requests.borrow();
    assert_eq!(reqs[0].1, format!("{OKTA}/api/v1/authn"));
    assert_eq!(
        reqs[0].2,
        json!({"username": "alice@example.com", "password": "pw"})
    );
}

/// docs/configuration.md: an invalid variable is 503 naming it, not a silent default.
#[test]
fn an_invalid_numeric_variable_is_503() {
    let h = Harness::new();
    h.set_var("okta_base_url", OKTA);
    h.set_var("login_rate_limit_per_minute", "twenty");
    let j = assert_error(&h.login(creds()), 503, "NOT_CONFIGURED");
    assert_eq!(
        j["message"],
        "configuration variable login_rate_limit_per_minute is invalid"
    );
}

#[test]
fn bad_password_creates_nothing() {
    let h = Harness::new();
    h.okta_success("00uALICE");
    let r = h.login(json!({"okta_username": "alice", "okta_password": "bad"}));
    assert_error(&r, 401, "IDP_INVALID_CREDENTIALS");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_token"), 0);
}

#[test]
fn push_waiting_then_success() {
    let h = Harness::new();
    push_succeeds_after(&h, mfa_required(OKTA), 3);
    let r = h.login(creds());
    assert_eq!(r.status, 200, "{}", json(&r));
    assert_eq!(*h.fake.sleeps.borrow(), vec![500, 500, 500]);
    // The push factor (not sms) was used, with the state token.
    let reqs = h.fake.requests.borrow();
    assert!(reqs[1].1.ends_with("/factors/opf1/verify"));
    assert_eq!(reqs[1].2, json!({"stateToken": "st1"}));
}

#[test]
fn push_rejected_timeout_and_bound() {
    let h = Harness::new();
    mfa_then(&h, OKTA, challenge(OKTA, "REJECTED"));
    assert_error(&h.login(creds()), 401, "MFA_REJECTED");
    mfa_then(&h, OKTA, challenge(OKTA, "TIMEOUT"));
    assert_error(&h.login(creds()), 401, "MFA_TIMEOUT");
    // Never answered: bounded by okta_mfa_timeout_seconds, then cancel.
    h.set_var("okta_mfa_timeout_seconds", "3");
    h.set_var("login_user_rate_limit_per_minute", "100");
    h.fake.requests.borrow_mut().clear();
    mfa_then(&h, OKTA, challenge(OKTA, "WAITING"));
    assert_error(&h.login(creds()), 401, "MFA_TIMEOUT");
    let total: u64 = h.fake.sleeps.borrow().iter().sum();
    assert!(total <= 3000, "{total}");
    let reqs = h.fake.requests.borrow();
    assert!(
        reqs.last()
            .expect("req")
            .1
            .ends_with("/api/v1/authn/cancel")
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
}

#[test]
fn statuses_map_to_codes() {
    let h = Harness::new();
    h.set_var("login_user_rate_limit_per_minute", "100");
    // An Okta answer in `status` (with a state token, as Okta sends for a transaction).
    let answer = |status: &str| json!({"status": status, "stateToken": "s"});
    let sms_only = json!({"status": "MFA_REQUIRED", "stateToken": "s", "_embedded": {"factors": [{"factorType": "sms", "provider": "OKTA"}]}});
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"status": "LOCKED_OUT"}), 403, "IDP_ACCOUNT_LOCKED"),
        (answer("PASSWORD_EXPIRED"), 403, "IDP_PASSWORD_EXPIRED"),
        (answer("MFA_ENROLL"), 403, "MFA_ENROLL_REQUIRED"),
        (answer("MFA_ENROLL_ACTIVATE"), 403, "MFA_ENROLL_REQUIRED"),
        (answer("RECOVERY"), 401, "IDP_STATUS_UNSUPPORTED"),
        (sms_only, 403, "MFA_FACTOR_UNSUPPORTED"),
        (json!({"nothing": true}), 502, "IDP_UNAVAILABLE"),
    ];
    for (answer, st, code) in cases {
        h.idp(move |_, _| ok(answer.clone()));
        let r = h.login(creds());
        let j = assert_error(&r, st, code);
        if code == "IDP_STATUS_UNSUPPORTED" {
            assert!(j["message"].as_str().expect("msg").contains("RECOVERY"));
        }
    }
    for s in [500u16, 503, 429, 404] {
        h.idp(move |_, _| status(s, json!({})));
        assert_error(&h.login(creds()), 502, "IDP_UNAVAILABLE");
    }
    h.idp(|_, _| Err(guest_kit::FetchError("timeout".into())));
    assert_error(&h.login(creds()), 502, "IDP_UNAVAILABLE");
    h.idp(|_, _| {
        Ok(guest_kit::OutboundResponse {
            headers: Vec::new(),
            status: 200,
            body: b"<html>".to_vec(),
        })
    });
    assert_error(&h.login(creds()), 502, "IDP_UNAVAILABLE");
    // A foreign-origin href is never followed.
    h.fake.requests.borrow_mut().clear();
    mfa_then(&h, "https://evil.example", success());
    assert_error(&h.login(creds()), 502, "IDP_UNAVAILABLE");
    assert_eq!(h.fake.requests.borrow().len(), 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
}

#[test]
fn password_warn_skips_but_still_requires_mfa() {
    let h = Harness::new();
    let warn = json!({"status": "PASSWORD_WARN", "stateToken": "st0",
        "_links": {"skip": {"href": format!("{OKTA}/api/v1/authn/skip")}}});
    push_succeeds_after(&h, warn, 1);
    let r = h.login(creds());
    assert_eq!(r.status, 200, "{}", json(&r));
    let urls: Vec<String> = h
        .fake
        .requests
        .borrow()
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert!(urls[1].ends_with("/skip"));
    assert!(urls[2].ends_with("/opf1/verify"));
}

#[test]
fn group_check() {
    let h = Harness::new();
    h.set_var("okta_group", "wallet-users");
    // Group without API token → 503.
    h.okta_success("00uG");
    assert_error(&h.login(creds()), 503, "NOT_CONFIGURED");
    h.set_var("okta_api_token", "api-secret");
    h.idp(|req, _| {
        if req.url.ends_with("/groups") {
            assert!(
                req.headers
                    .iter()
                    .any(|(k, v)| k == "authorization" && v == "SSWS api-secret")
            );
            return ok(json!([{"id": "g1", "profile": {"name": "Everyone"}}]));
        }
        ok(json!({"status": "SUCCESS", "_embedded": {"user": {"id": "00uG"}}}))
    });
    assert_error(&h.login(creds()), 403, "USER_NOT_IN_ORG");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
    h.idp(|req, _| {
        if req.url.ends_with("/api/v1/users/00uG/groups") {
            return ok(
                json!([{"profile": {"name": "Everyone"}}, {"profile": {"name": "wallet-users"}}]),
            );
        }
        ok(json!({"status": "SUCCESS", "_embedded": {"user": {"id": "00uG"}}}))
    });
    assert_eq!(h.login(creds()).status, 200);
}

#[test]
fn request_shapes_and_rate_limits() {
    let h = Harness::new();
    h.okta_success("00uR");
    assert_error(&h.login(json!({})), 400, "BAD_REQUEST");
    assert_error(
        &h.login(json!({"okta_username": "a", "okta_password": "b", "id_token": "x"})),
        400,
        "BAD_REQUEST",
    );
    assert_error(
        &h.login(json!({"okta_username": "a", "okta_password": "b", "x": 1})),
        400,
        "BAD_REQUEST",
    );
    assert_error(
        &h.login(json!({"id_token": "a.b.c"})),
        400,
        "LOGIN_METHOD_DISABLED",
    );
    h.unset_var("okta_base_url");
    assert_error(&h.login(creds()), 400, "LOGIN_METHOD_DISABLED");
    h.set_var("okta_base_url", OKTA);
    let r = h.login_req(Request::new("GET", "/guardian/login"));
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_error(
        &h.login_req(Request::new("POST", "/guardian/nope")),
        404,
        "NOT_FOUND",
    );
    let r = h.login_req(Request::new("GET", "/guardian/openapi.json"));
    assert_eq!(r.status, 200);
    assert_eq!(json(&r)["openapi"], "3.1.0");

    // Per user and address: 10 failed identity checks a minute (successes are not counted).
    assert_eq!(h.login(creds()).status, 200);
    let mut bad = creds();
    bad["okta_password"] = json!("bad");
    for _ in 0..10 {
        assert_error(&h.login(bad.clone()), 401, "IDP_INVALID_CREDENTIALS");
    }
    let r = h.login(creds());
    assert_error(&r, 429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
    // Per address: 20 a minute (other users).
    h.advance_secs(60);
    for i in 0..20 {
        let r = h.login(json!({"okta_username": format!("u{i}"), "okta_password": "pw"}));
        assert_eq!(r.status, 200);
    }
    assert_error(
        &h.login(json!({"okta_username": "z", "okta_password": "pw"})),
        429,
        "RATE_LIMITED",
    );
}

#[test]
fn authorize() {
    let h = Harness::new();
    let auth = |body: Value, bearer: &str| {
        Request::new("POST", "/guardian/authorize")
            .with_header("authorization", format!("Bearer {bearer}"))
            .with_body(body.to_string())
    };
    assert_error(
        &h.admin_req(auth(json!({"okta_url": "acme"}), "x")),
        403,
        "ADMIN_DISABLED",
    );
    h.set_var("admin_token", "admin-secret");
    assert_error(
        &h.admin_req(auth(json!({"okta_url": "acme"}), "wrong")),
        401,
        "AUTH_INVALID",
    );
    let t = h.okta_login_token("00uX");
    assert_error(
        &h.admin_req(auth(json!({"okta_url": "acme"}), &t)),
        401,
        "AUTH_INVALID",
    );
    let r = h.admin_req(auth(
        json!({"okta_url": "acme", "secret_id": "ignored"}),
        "admin-secret",
    ));
    assert_eq!(r.status, 200);
    assert_eq!(json(&r), json!({"configUpdated": true}));
    // The next login uses the new base URL.
    h.fake.requests.borrow_mut().clear();
    h.login(creds());
    assert_eq!(
        h.fake.requests.borrow()[0].1,
        "https://acme.okta.com/api/v1/authn"
    );
    // null restores the variable.
    assert_eq!(
        h.admin_req(auth(json!({"okta_base_url": null}), "admin-secret"))
            .status,
        200
    );
    h.fake.requests.borrow_mut().clear();
    h.login(creds());
    assert_eq!(
        h.fake.requests.borrow()[0].1,
        format!("{OKTA}/api/v1/authn")
    );
    for bad in [
        json!({"okta_base_url": "http://example.com"}),
        json!({"okta_url": "acme", "okta_base_url": "https://x.okta.com"}),
        json!({"oidc_issuer": "https://i"}),
        json!({"okta_group": "g"}),
        json!({}),
        json!({"unknown": "x"}),
        json!({"okta_url": 5}),
    ] {
        assert_error(&h.admin_req(auth(bad, "admin-secret")), 400, "BAD_REQUEST");
    }
    // The API token is sealed at rest.
    let r = h.admin_req(auth(
        json!({"okta_token": "very-secret", "okta_group": "g"}),
        "admin-secret",
    ));
    assert_eq!(r.status, 200);
    assert!(
        !h.db_text("SELECT value FROM gd_config")
            .contains("very-secret")
    );
    assert_eq!(
        h.admin_req(Request::new("GET", "/guardian/authorize"))
            .status,
        405
    );
}

#[test]
fn export() {
    let h = Harness::new();
    let t = h.okta_login_token("00uE");
    let exp = |t: &str| {
        h.export_req(
            Request::new("POST", "/guardian/export")
                .with_header("authorization", format!("Bearer {t}")),
        )
    };
    assert_error(&exp(&t), 403, "EXPORT_DISABLED");
    h.set_var("allow_export", "true");
    // A fresh token is refused and stays usable.
    let r = h.call("GET", "/guardian/sign", &t, None);
    let f = fresh(&r);
    let addr = json(&r)["public_address"]
        .as_str()
        .expect("addr")
        .to_owned();
    assert_error(&exp(&f), 403, "FRESH_LOGIN_REQUIRED");
    assert_eq!(h.call("GET", "/guardian/sign", &f, None).status, 200);
    // An old login token too.
    let old = h.okta_login_token("00uE");
    h.advance_secs(301);
    assert_error(&exp(&old), 403, "FRESH_LOGIN_REQUIRED");
    assert_error(&exp(&"A".repeat(43)), 401, "AUTH_INVALID");
    let new = h.okta_login_token("00uE");
    let r = exp(&new);
    assert_eq!(r.status, 200);
    let j = json(&r);
    assert!(j.get("fresh_client_token").is_none());
    assert_eq!(j["hd_path"], "m/44'/60'/0'/0/0");
    let m = guardian_core::Mnemonic::parse(j["mnemonic"].as_str().expect("m")).expect("parse");
    assert_eq!(m.word_count(), 24);
    assert_eq!(m.derive_address(0).expect("addr").to_checksum(), addr);
    assert_eq!(j["address"], addr.as_str());
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_export_log"), 1);
    assert_error(&exp(&new), 401, "AUTH_INVALID");
}
