//! Rate limits that cannot be turned against a project (docs/shield.md, "Design: rate limit"):
//! authenticated requests count per user and per project, only once verified; failed
//! authentication and the public routes count against the client address.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use jwt_verify::test_signer::TestSigner;
use serde_json::json;

const ATTACKER: &str = "198.51.100.9:4000";
const VICTIM: &str = "203.0.113.7:5555";

fn from(h: &Harness, addr: &str, req: Request) -> Reply {
    h.call(req.with_header("spin-client-addr", addr))
}

fn token(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": T0_MS / 1000 + 4 * 3600}))
}

fn limited(r: &Reply) {
    r.assert_error(429, "RATE_LIMITED", "Rate limit exceeded");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn bad_tokens_with_a_publishable_key_do_not_spend_the_projects_budget() {
    let h = Harness::new();
    let (p, signer) = h.pem_project(false);
    h.set_var("rate_limit_requests", "5");
    h.set_var("rate_limit_window_ms", "3600000");
    // A window of its own, after the project's setup.
    h.now_ms.set(T0_MS + 3_600_000);
    let bad = "not-a-token-this-provider-signed";
    // The first five failures from the attacker's address are answered as ever, then its
    // address is refused before the token is looked at.
    for _ in 0..5 {
        from(&h, ATTACKER, h.user(&p, bad, "GET", "/keychain")).assert_error(
            401,
            "A_INVALID",
            "Invalid token",
        );
    }
    for _ in 0..20 {
        limited(&from(&h, ATTACKER, h.user(&p, bad, "GET", "/keychain")));
    }
    // A bad secret, an unknown key: the same address's budget, never the project's.
    let mut wrong = Request::new("GET", "/project")
        .with_header("X-API-Key", &p.api_key)
        .with_header("X-API-Secret", "00".repeat(32));
    limited(&from(&h, ATTACKER, wrong.clone()));
    // The legitimate user, from another address, is not affected.
    let alice = token(&signer, "alice");
    for _ in 0..4 {
        from(&h, VICTIM, h.user(&p, &alice, "GET", "/keychain")).ok(200);
    }
    // Nothing of the flood was counted against the project: its budget is the user's 4 plus
    // the project's own request.
    from(
        &h,
        VICTIM,
        Request::new("GET", "/project")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-API-Secret", &p.api_secret),
    )
    .ok(200);
    limited(&from(&h, VICTIM, h.user(&p, &alice, "GET", "/keychain")));
    // Failures from the victim's address are counted there, apart from the attacker's.
    wrong = wrong.with_header("spin-client-addr", VICTIM);
    h.call(wrong)
        .assert_error(401, "A_INVALID", "Invalid API key or API secret");
}

#[test]
fn a_user_cannot_spend_more_than_their_share_of_the_project() {
    let h = Harness::new();
    let (p, signer) = h.pem_project(false);
    h.set_var("rate_limit_requests", "6");
    h.set_var("rate_limit_user_requests", "2");
    h.set_var("rate_limit_window_ms", "3600000");
    // A window of its own, after the project's setup.
    h.now_ms.set(T0_MS + 3_600_000);
    let (alice, bob) = (token(&signer, "alice"), token(&signer, "bob"));
    for _ in 0..2 {
        from(&h, VICTIM, h.user(&p, &alice, "GET", "/keychain")).ok(200);
    }
    // Alice is over her limit; refused, she spends nothing more of the project's budget.
    for _ in 0..10 {
        limited(&from(&h, VICTIM, h.user(&p, &alice, "GET", "/keychain")));
    }
    for _ in 0..2 {
        from(&h, VICTIM, h.user(&p, &bob, "GET", "/keychain")).ok(200);
    }
    // The project's secret holder is a user too, with the same share.
    for _ in 0..2 {
        h.ps(&p, "GET", "/project", None).ok(200);
    }
    limited(&h.ps(&p, "GET", "/project", None));
    // 6 of 6 spent: another user meets the project's limit.
    limited(&from(
        &h,
        VICTIM,
        h.user(&p, &token(&signer, "carol"), "GET", "/keychain"),
    ));
    // Another project is unaffected; the next window starts afresh.
    let q = h.register(false);
    h.ps(&q, "GET", "/project", None).ok(200);
    h.now_ms.set(T0_MS + 7_200_000);
    from(&h, VICTIM, h.user(&p, &alice, "GET", "/keychain")).ok(200);
}

#[test]
fn public_routes_count_per_client_address() {
    let h = Harness::new();
    h.set_var("rate_limit_requests", "3");
    h.set_var("rate_limit_window_ms", "3600000");
    for _ in 0..3 {
        from(&h, ATTACKER, Request::new("GET", "/storage-methods")).ok(200);
    }
    limited(&from(&h, ATTACKER, Request::new("GET", "/storage-methods")));
    limited(&from(
        &h,
        ATTACKER,
        Request::new("POST", "/register").with_body("{}"),
    ));
    // Another address has its own bucket: no one public bucket to exhaust.
    from(
        &h,
        VICTIM,
        Request::new("POST", "/register").with_body("{}"),
    )
    .ok(201);
    // Unknown API keys count against the address too.
    let unknown = Request::new("GET", "/keychain")
        .with_header("X-API-Key", "no-such-key")
        .with_header("X-Auth-Provider", "custom")
        .with_header("Authorization", "Bearer x");
    for _ in 0..2 {
        from(&h, VICTIM, unknown.clone()).assert_error(
            401,
            "A_INVALID",
            "Invalid API key or API secret",
        );
    }
    limited(&from(&h, VICTIM, unknown));
}

#[test]
fn behind_trusted_proxies_the_forwarded_client_is_the_bucket() {
    let h = Harness::new();
    h.set_var("rate_limit_requests", "1");
    h.set_var("rate_limit_window_ms", "3600000");
    h.set_var("shield_trusted_proxies", "10.0.0.0/8");
    let via = |client: &str| {
        from(
            &h,
            "10.1.2.3:443",
            Request::new("GET", "/storage-methods").with_header("X-Forwarded-For", client),
        )
    };
    via("198.51.100.1").ok(200);
    limited(&via("198.51.100.1"));
    via("198.51.100.2").ok(200);
    // An untrusted peer cannot choose its bucket.
    from(
        &h,
        ATTACKER,
        Request::new("GET", "/storage-methods").with_header("X-Forwarded-For", "198.51.100.3"),
    )
    .ok(200);
    limited(&from(
        &h,
        ATTACKER,
        Request::new("GET", "/storage-methods").with_header("X-Forwarded-For", "198.51.100.4"),
    ));
    h.set_var("shield_trusted_proxies", "10.0.0.0/8, proxy.internal");
    via("198.51.100.5").assert_error(
        503,
        "NOT_CONFIGURED",
        "shield_trusted_proxies must list addresses or CIDR blocks; \"proxy.internal\" is neither",
    );
}
