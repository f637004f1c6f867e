//! The login's front door, natively (docs/guardian.md, "Okta", "Design: login" and
//! "Design: CORS"): the Okta conversation ends inside the request deadline, the rate limits key
//! on the client behind trusted proxies and count only failed identity checks per (username,
//! client), and CORS is answered for the enduser routes only.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use guest_kit::Request;
use serde_json::{Value, json};

const USER: &str = "alice@example.com";

fn login_from(
    h: &Harness,
    peer: &str,
    xff: Option<&str>,
    user: &str,
    password: &str,
) -> guest_kit::Response {
    let mut req = Request::new("POST", "/guardian/login")
        .with_header("spin-client-addr", format!("{peer}:4000"))
        .with_body(json!({"okta_username": user, "okta_password": password}).to_string());
    if let Some(v) = xff {
        req = req.with_header("x-forwarded-for", v);
    }
    h.login_req(req)
}

/// Okta asks for the push and never gets an answer; each call costs `call_ms` of virtual time.
/// Records every call's timeout and the virtual time it was made at.
fn okta_waiting_forever(h: &Harness, call_ms: u64) -> Rc<RefCell<Vec<(String, u64, u64)>>> {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = calls.clone();
    h.idp(move |req, fake| {
        seen.borrow_mut()
            .push((req.url.clone(), fake.clock.get(), req.timeout_ms));
        fake.clock.set(fake.clock.get() + call_ms);
        if req.url.ends_with("/api/v1/authn") {
            return ok(json!({"status": "MFA_REQUIRED", "stateToken": "st", "_embedded": {"factors": [
                {"factorType": "push", "provider": "OKTA",
                 "_links": {"verify": {"href": format!("{OKTA}/api/v1/authn/factors/opf1/verify")}}}]}}));
        }
        if req.url.ends_with("/cancel") {
            return ok(json!({"status": "CANCELLED"}));
        }
        ok(json!({"status": "MFA_CHALLENGE", "stateToken": "st", "factorResult": "WAITING",
            "_links": {"next": {"href": format!("{OKTA}/api/v1/authn/factors/opf1/verify")},
                       "cancel": {"href": format!("{OKTA}/api/v1/authn/cancel")}}}))
    });
    calls
}

/// The virtual time at which the login ended (the clock starts at 0).
fn ended_at(h: &Harness) -> u64 {
    h.fake.clock.get()
}

#[test]
fn by_default_an_unanswered_push_ends_within_25_seconds_and_is_cancelled() {
    let h = Harness::new();
    let calls = okta_waiting_forever(&h, 0);
    assert_error(
        &h.login(json!({"okta_username": USER, "okta_password": "pw"})),
        401,
        "MFA_TIMEOUT",
    );
    let at = ended_at(&h);
    assert!((24_000..=25_000).contains(&at), "{at}");
    let calls = calls.borrow();
    let (url, _, timeout) = calls.last().expect("calls");
    assert!(url.ends_with("/api/v1/authn/cancel"), "{url}");
    assert!(*timeout <= 2_000, "{timeout}");
}

#[test]
fn a_configured_wait_longer_than_the_deadline_is_cut_to_the_budget() {
    // 60 s is cut to the budget; a shorter wait still ends first.
    for (wait, ends_by) in [("60", 25_000), ("3", 3_000)] {
        let h = Harness::new();
        h.set_var("okta_mfa_timeout_seconds", wait);
        okta_waiting_forever(&h, 0);
        assert_error(
            &h.login(json!({"okta_username": USER, "okta_password": "pw"})),
            401,
            "MFA_TIMEOUT",
        );
        assert!(ended_at(&h) <= ends_by, "{wait}: {}", ended_at(&h));
    }
}

/// A slow Okta: every call is cut to what is left of the 25 s budget, and the cancel gets its
/// own 2 s, so the login ends by 27 s of its start whatever Okta does.
#[test]
fn every_okta_call_is_cut_to_the_time_left() {
    let h = Harness::new();
    h.set_var("okta_mfa_timeout_seconds", "60");
    let calls = okta_waiting_forever(&h, 7_000);
    let r = h.login(json!({"okta_username": USER, "okta_password": "pw"}));
    assert!(r.status == 401 || r.status == 502, "{}", json(&r));
    let calls = calls.borrow();
    for (url, at, timeout) in calls.iter() {
        if url.ends_with("/cancel") {
            assert!(*timeout <= 2_000, "{url}: {timeout}");
        } else {
            assert!(at + timeout <= 25_000, "{url} at {at}: {timeout}");
        }
    }
    assert!(calls.len() >= 3, "{calls:?}");
}

#[test]
fn failures_from_one_address_do_not_lock_the_user_out_from_another() {
    let h = Harness::new();
    h.okta_success("00uALICE");
    h.set_var("login_user_rate_limit_per_minute", "3");
    h.set_var("login_rate_limit_per_minute", "100");
    for _ in 0..3 {
        let r = login_from(&h, "192.0.2.66", None, USER, "bad");
        assert_error(&r, 401, "IDP_INVALID_CREDENTIALS");
    }
    // Case does not make another user.
    let r = login_from(&h, "192.0.2.66", None, "ALICE@example.com", "bad");
    let j = assert_error(&r, 429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some(), "{j}");
    // Refused before Okta is asked.
    let asked = h.fake.requests.borrow().len();
    assert_error(
        &login_from(&h, "192.0.2.66", None, USER, "pw"),
        429,
        "RATE_LIMITED",
    );
    assert_eq!(h.fake.requests.borrow().len(), asked);
    // From her own address, as often as she likes: successes are not counted.
    for _ in 0..12 {
        assert_eq!(login_from(&h, "198.51.100.7", None, USER, "pw").status, 200);
    }
    // The window passes.
    h.advance_secs(60);
    assert_eq!(login_from(&h, "192.0.2.66", None, USER, "pw").status, 200);
}

#[test]
fn an_unreachable_provider_is_not_the_users_failure() {
    let h = Harness::new();
    h.set_var("login_user_rate_limit_per_minute", "1");
    h.idp(|_, _| status(503, json!({})));
    for _ in 0..3 {
        assert_error(
            &h.login(json!({"okta_username": USER, "okta_password": "pw"})),
            502,
            "IDP_UNAVAILABLE",
        );
    }
}

#[test]
fn behind_trusted_proxies_the_client_is_the_forwarded_one() {
    let h = Harness::new();
    h.okta_success("00uP");
    h.set_var("login_rate_limit_per_minute", "1");
    h.set_var("login_user_rate_limit_per_minute", "100");
    h.set_var("guardian_trusted_proxies", "10.0.0.0/8, 2001:db8::1");
    let r = login_from(&h, "10.0.0.1", Some("198.51.100.1, 10.0.0.9"), "a", "pw");
    assert_eq!(r.status, 200);
    assert_error(
        &login_from(&h, "10.0.0.2", Some("198.51.100.1"), "b", "pw"),
        429,
        "RATE_LIMITED",
    );
    assert_eq!(
        login_from(&h, "10.0.0.1", Some("198.51.100.2"), "c", "pw").status,
        200
    );
    // Malformed: the proxy's own bucket.
    assert_eq!(
        login_from(&h, "10.0.0.1", Some("nonsense"), "d", "pw").status,
        200
    );
    assert_error(
        &login_from(&h, "10.0.0.1", None, "e", "pw"),
        429,
        "RATE_LIMITED",
    );
    // An untrusted peer's header is ignored.
    assert_eq!(
        login_from(&h, "192.0.2.1", Some("198.51.100.9"), "f", "pw").status,
        200
    );
    assert_error(
        &login_from(&h, "192.0.2.1", Some("198.51.100.10"), "g", "pw"),
        429,
        "RATE_LIMITED",
    );
    // The audit trail names the forwarded client.
    let trail = keyward_test_kit::audit::records(&h.db);
    let (last, _) = trail.last().expect("a record");
    assert_eq!(last.client, "192.0.2.1");
    let (forwarded, _) = &trail[0];
    assert_eq!(forwarded.client, "198.51.100.1");
    // An invalid list is a configuration error naming the entry.
    h.set_var("guardian_trusted_proxies", "10.0.0.0/8, proxy.internal");
    let r = login_from(&h, "10.0.0.1", None, "h", "pw");
    let j = assert_error(&r, 503, "NOT_CONFIGURED");
    assert!(
        j["message"].as_str().unwrap().contains("proxy.internal"),
        "{j}"
    );
}

fn preflight(path: &str, origin: &str) -> Request {
    Request::new("OPTIONS", path)
        .with_header("origin", origin)
        .with_header("access-control-request-method", "POST")
}

#[test]
fn cors_is_answered_for_the_enduser_routes_only() {
    let h = Harness::new();
    let wallet = "https://wallet.example";
    // Off until origins are configured.
    assert_error(
        &h.sign_req(preflight("/guardian/sign", wallet)),
        405,
        "METHOD_NOT_ALLOWED",
    );
    h.set_var("guardian_cors_allowed_origins", wallet);
    for r in [
        h.login_req(preflight("/guardian/login", wallet)),
        h.sign_req(preflight("/guardian/sign", wallet)),
        h.sign_req(preflight("/guardian/logout", wallet)),
        h.export_req(preflight("/guardian/export", wallet)),
    ] {
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some(wallet));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("authorization, x-vault-token, content-type")
        );
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    let r = h.sign_req(preflight("/guardian/sign", wallet));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    let r = h.sign_req(preflight("/guardian/sign", "https://evil.example"));
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
    // A path the component does not serve is still a 404.
    assert_error(
        &h.sign_req(preflight("/guardian/nope", wallet)),
        404,
        "NOT_FOUND",
    );
    // The maintainer's routes: never.
    h.set_var("admin_token", "adm");
    for path in ["/guardian/authorize", "/guardian/revoke"] {
        let r = h.admin_req(preflight(path, wallet));
        assert_error(&r, 405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = h.admin_req(
            Request::new("POST", path)
                .with_header("origin", wallet)
                .with_header("authorization", "Bearer adm")
                .with_body("{}"),
        );
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), None);
    }
    // An answer to the wallet exposes Retry-After; errors carry the grant too.
    let r = h.login_req(
        Request::new("POST", "/guardian/login")
            .with_header("origin", wallet)
            .with_body("{}"),
    );
    assert_error(&r, 400, "BAD_REQUEST");
    assert_eq!(r.header("access-control-allow-origin"), Some(wallet));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("retry-after")
    );
    let _: Value = json(&r);
}
