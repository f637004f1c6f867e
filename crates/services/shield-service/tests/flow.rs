//! shield natively, what only a native run can do: move the clock, change variables, script the
//! identity providers' answers (the rest is the test kit's shield scenarios, tests/scenarios.rs).

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::{OutboundResponse, Request};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use serde_json::{Value, json};

fn token(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": T0_MS / 1000 + 600}))
}

/// Checklist 19: a session expires five minutes after it is made, by the service's clock.
#[test]
fn session_expires_after_five_minutes() {
    let h = Harness::new();
    let (p, signer) = h.pem_project(true);
    let part = p.part.clone().unwrap();
    let t = token(&signer, "carol");
    let share = json!({"secret": "top", "entropy": "project", "encryption_part": part});
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(share.to_string()),
    )
    .ok(201);
    let session = json!({"encryption_part": part});
    let sid = h
        .ps(&p, "POST", "/project/encryption-session", Some(session))
        .ok(200)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.now_ms.set(T0_MS + 5 * 60 * 1000);
    let t_late = signer.sign(&json!({"sub": "carol", "exp": T0_MS / 1000 + 6000}));
    h.call(
        h.user(&p, &t_late, "GET", "/shares")
            .with_header("X-Encryption-Session", &sid),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
}

#[test]
fn operator_token() {
    let h = Harness::new();
    h.set_var("register_token", "op-secret");
    h.call(Request::new("POST", "/register").with_body("{}"))
        .assert_error(401, "A_MISSING", "Missing operator token");
    h.call(
        Request::new("POST", "/register")
            .with_header("X-Operator-Token", "nope")
            .with_body("{}"),
    )
    .assert_error(401, "A_INVALID", "Invalid operator token");
    h.call(
        Request::new("POST", "/register")
            .with_header("X-Operator-Token", "op-secret")
            .with_body("{}"),
    )
    .ok(201);
}

#[test]
fn jwks_cache_and_openfort() {
    let h = Harness::new();
    let p = h.register(false);
    h.set_var("openfort_base_url", "http://of.test/");
    let es = TestSigner::new(Algorithm::ES256, "es1");
    let ed = TestSigner::new(Algorithm::EdDSA, "ed1");
    let jwks = std::rc::Rc::new(std::cell::RefCell::new(jwks_json(&[&es])));
    let served = jwks.clone();
    h.on_fetch(move |req| {
        let (status, body) = match req.url.as_str() {
            "http://idp.test/jwks.json" | "http://of.test/iam/v1/pk_live/jwks.json" => (200, served.borrow().clone().into_bytes()),
            "http://of.test/iam/v1/oauth/third_party" => (200, br#"{"id":"of-third"}"#.to_vec()),
            "http://of.test/iam/v2/auth/get-session" => {
                if req.header("authorization") == Some("Bearer old") {
                    (200, br#"{"session":{"expiresAt":"2026-12-01T09:59:59Z"},"user":{"id":"x"}}"#.to_vec())
                } else {
                    (200, br#"{"session":{"expiresAt":"2026-12-01T10:05:00Z"},"user":{"id":"of-sess"}}"#.to_vec())
                }
            }
            _ => (404, Vec::new()),
        };
        Ok(OutboundResponse { status, headers: vec![], body })
    });
    h.ps(&p, "POST", "/project/providers", Some(json!({"providers": {"custom": {"jwk": "http://idp.test/jwks.json"}, "openfort": {"publishable_key": "pk_live"}}}))).ok(200);
    let custom = |tok: &str| h.call(h.user(&p, tok, "GET", "/keychain"));
    custom(&es.sign(&json!({"sub": "u1"}))).ok(200);
    custom(&es.sign(&json!({"sub": "u1"}))).ok(200);
    let fetches = |h: &Harness| {
        h.fetch
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.url == "http://idp.test/jwks.json")
            .count()
    };
    assert_eq!(fetches(&h), 1, "cached");
    // Rotation: unknown kid refetches once.
    *jwks.borrow_mut() = jwks_json(&[&es, &ed]);
    custom(&ed.sign(&json!({"sub": "u2"}))).ok(200);
    assert_eq!(fetches(&h), 2);
    custom(&TestSigner::new(Algorithm::EdDSA, "zz").sign(&json!({"sub": "u2"}))).assert_error(
        401,
        "A_INVALID",
        "Invalid token",
    );
    assert_eq!(fetches(&h), 3);
    // After 5 minutes the cache expires.
    h.now_ms.set(T0_MS + 5 * 60 * 1000);
    custom(&es.sign(&json!({"sub": "u1"}))).ok(200);
    assert_eq!(fetches(&h), 4);
    h.now_ms.set(T0_MS);
    // Openfort: third party, JWT, session.
    let of = |tok: &str, extra: &[(&str, &str)]| {
        let mut r = Request::new("GET", "/keychain")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "openfort")
            .with_header("X-Request-ID", "rid-1")
            .with_header("Authorization", format!("Bearer {tok}"));
        for (k, v) in extra {
            r = r.with_header(k, v);
        }
        h.call(r)
    };
    of(
        "tp-token",
        &[
            ("X-Openfort-Provider", "firebase"),
            ("X-Openfort-Token-Type", "idToken"),
        ],
    )
    .ok(200);
    let seen = h.fetch.seen.lock().unwrap().clone();
    let tp = seen
        .iter()
        .find(|r| r.url.ends_with("/third_party"))
        .expect("third party call");
    assert_eq!(tp.method, "POST");
    assert_eq!(tp.header("authorization"), Some("Bearer pk_live"));
    assert_eq!(tp.header("x-request-id"), Some("rid-1"));
    let body: Value = serde_json::from_slice(&tp.body).unwrap();
    assert_eq!(
        body,
        json!({"provider": "firebase", "token": "tp-token", "tokenType": "idToken"})
    );
    of(&es.sign(&json!({"sub": "of-jwt"})), &[]).ok(200);
    of("opaque", &[]).ok(200);
    let seen = h.fetch.seen.lock().unwrap().clone();
    let gs = seen
        .iter()
        .rev()
        .find(|r| r.url.ends_with("/get-session"))
        .expect("get-session");
    assert_eq!(gs.header("x-project-key"), Some("pk_live"));
    assert_eq!(gs.header("authorization"), Some("Bearer opaque"));
    of("old", &[]).assert_error(401, "A_INVALID", "Invalid token");
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM external_users WHERE external_user_id IN ('of-third','of-jwt','of-sess')"
        ),
        3
    );
}

#[test]
fn rate_limit() {
    let h = Harness::new();
    h.set_var("rate_limit_requests", "3");
    let p = h.register(false);
    let q = h.register(false);
    for _ in 0..3 {
        h.ps(&p, "GET", "/project", None).ok(200);
    }
    let r = h.ps(&p, "GET", "/project", None);
    r.assert_error(429, "RATE_LIMITED", "Rate limit exceeded");
    assert_eq!(r.header("retry-after"), Some("1"));
    h.ps(&q, "GET", "/project", None).ok(200);
    h.now_ms.set(T0_MS + 1000);
    h.ps(&p, "GET", "/project", None).ok(200);
}

#[test]
fn an_invalid_rate_limit_variable_is_503() {
    let h = Harness::new();
    let p = h.register(false);
    h.set_var("rate_limit_requests", "lots");
    h.ps(&p, "GET", "/project", None).assert_error(
        503,
        "NOT_CONFIGURED",
        "configuration variable rate_limit_requests is invalid",
    );
}

#[test]
fn health_shapes_and_preflight() {
    let h = Harness::new();
    let db = h.db();
    let vars = |_: &str| None;
    let env = shield_service::Env::new(&db, &vars, T0_MS);
    let r = shield_service::health(
        &env,
        &Request::new("GET", "/healthz").with_header("X-Request-ID", "h1"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("h1"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["at"], "2026-12-01T10:00:00Z");
    let pre = shield_service::health(
        &env,
        &Request::new("OPTIONS", "/healthz")
            .with_header("Origin", "http://a")
            .with_header("Access-Control-Request-Method", "GET"),
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        shield_service::health(&env, &Request::new("POST", "/healthz")).status,
        405
    );
}
