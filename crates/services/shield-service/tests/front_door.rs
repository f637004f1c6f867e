//! The front door: what an anonymous or careless client sends cannot take shield down
//! (docs/shield.md, "Limits").

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use serde_json::json;
use shield_service::BODY_LIMIT;

#[test]
fn register_refuses_a_huge_name() {
    let h = Harness::new();
    // As large as the body limit allows.
    let name = "a".repeat(BODY_LIMIT - 64);
    let body = json!({ "name": name }).to_string();
    assert!(body.len() <= BODY_LIMIT);
    let r = h.call(Request::new("POST", "/register").with_body(body));
    r.assert_error(400, "BAD_REQUEST", "name must be at most 256 bytes");
    assert_eq!(h.count("SELECT COUNT(*) FROM projects"), 0);
    // The limit itself is fine.
    let body = json!({ "name": "a".repeat(256) }).to_string();
    h.call(Request::new("POST", "/register").with_body(body))
        .ok(201);
}

#[test]
fn share_and_provider_fields_are_bounded() {
    let h = Harness::new();
    let p = h.register(false);
    let long = "x".repeat(300);
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"openfort": {"publishable_key": long}}})),
    )
    .assert_error(
        400,
        "PV_CFG_INVALID",
        "publishable_key must be at most 256 bytes",
    );
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"jwk": format!("https://idp.example/{}", "j".repeat(2048))}}})),
    )
    .assert_error(400, "PV_CFG_INVALID", "jwk must be at most 2048 bytes");
    h.ps(
        &p,
        "POST",
        "/user",
        Some(json!({"external_user_id": long, "provider_id": "x"})),
    )
    .assert_error(
        400,
        "BAD_REQUEST",
        "external_user_id must be at most 256 bytes",
    );
    h.ps(
        &p,
        "POST",
        "/shares/encryption/reference/bulk",
        Some(json!({"references": [long]})),
    )
    .assert_error(400, "BAD_REQUEST", "references must be at most 256 bytes");
    h.ps(
        &p,
        "POST",
        "/shares/migration/import",
        Some(json!({"user_id": "u", "secret": "s", "reference": long})),
    )
    .assert_error(400, "BAD_REQUEST", "reference must be at most 256 bytes");
    h.ps(
        &p,
        "POST",
        "/shares/migration/import",
        Some(json!({"user_id": "u", "secret": "s".repeat(8193)})),
    )
    .assert_error(400, "BAD_REQUEST", "secret must be at most 8192 bytes");
}

#[test]
fn huge_request_id_is_replaced() {
    let h = Harness::new();
    let huge = "a".repeat(128 * 1024);
    for path in ["/storage-methods", "/healthz"] {
        // `call` runs the component spin.toml routes the path to (shield-health for /healthz).
        let r = h.call(Request::new("GET", path).with_header("X-Request-ID", &huge));
        r.ok(200);
        let id = r.header("x-request-id").expect("x-request-id");
        assert_eq!(id.len(), 32, "{path}: a fresh id, not the 128 KiB one");
        assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn request_id_shape() {
    let h = Harness::new();
    let echoed = |sent: &str| {
        let r = h.call(Request::new("GET", "/storage-methods").with_header("X-Request-ID", sent));
        r.ok(200);
        r.header("x-request-id").map(str::to_owned)
    };
    // Visible token characters up to 128 bytes are echoed as they came.
    for ok in [
        "abc",
        "0190a6f2-7c1e-7d3a-9b2c-5e4f3a2b1c0d",
        "trace:span.1_a/b+c=@",
        &"b".repeat(128),
    ] {
        assert_eq!(echoed(ok).as_deref(), Some(ok));
    }
    // Longer, spaces, quotes, control or non-ASCII characters: replaced, never echoed.
    for bad in [
        "c".repeat(200),
        "a b".to_owned(),
        "a\"b".to_owned(),
        "a,b".to_owned(),
        "ä".to_owned(),
    ] {
        let got = echoed(&bad).expect("an id");
        assert_ne!(got, bad);
        assert_eq!(got.len(), 32);
    }
}

#[test]
fn stale_rate_limit_windows_of_every_bucket_are_removed() {
    let h = Harness::new();
    h.set_var("rate_limit_requests", "100");
    h.set_var("rate_limit_window_ms", "1000");
    let p = h.register(false);
    let q = h.register(false);
    h.ps(&p, "GET", "/project", None).ok(200);
    h.ps(&q, "GET", "/project", None).ok(200);
    h.call(Request::new("GET", "/storage-methods")).ok(200);
    // Each project's secret holder and the project, and the (one) client address of the public
    // requests (docs/shield.md, "Design: rate limit").
    assert_eq!(h.count("SELECT COUNT(*) FROM rate_limit_counters"), 5);
    // Windows later, only p comes back: q's and the address's counters go too.
    h.now_ms.set(T0_MS + 5_000);
    h.ps(&p, "GET", "/project", None).ok(200);
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM rate_limit_counters WHERE window_start < {}",
            T0_MS + 5_000
        )),
        0
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM rate_limit_counters"), 2);
}
