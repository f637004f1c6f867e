//! The front door: what anonymous clients send or leave behind cannot take guardian down
//! (docs/guardian.md, "Limits").

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use jwt_verify::Algorithm;
use jwt_verify::test_signer::TestSigner;
use serde_json::json;

fn rate_keys(h: &Harness) -> Vec<String> {
    h.sandbox.kv_keys("gd:rl:")
}

#[test]
fn stale_rate_limit_entries_of_every_subject_are_removed() {
    let h = Harness::new();
    h.okta_success("00uR");
    for i in 0..4 {
        let r = h.login_req(
            Request::new("POST", "/guardian/login")
                .with_header("spin-client-addr", format!("192.0.2.{i}:4000"))
                .with_body(
                    json!({"okta_username": format!("u{i}"), "okta_password": "bad"}).to_string(),
                ),
        );
        assert_eq!(r.status, 401);
    }
    // One counter per address and one per failing (user, address).
    assert_eq!(rate_keys(&h).len(), 8);
    // Minutes later one new caller: every earlier minute's counters are gone, of all subjects.
    h.advance_secs(180);
    let r = h.login(json!({"okta_username": "new", "okta_password": "bad"}));
    assert_eq!(r.status, 401);
    let keys = rate_keys(&h);
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[test]
fn login_fields_have_limits() {
    let h = Harness::new();
    h.okta_success("00uR");
    let r = h.login(json!({"okta_username": "u".repeat(257), "okta_password": "pw"}));
    let j = assert_error(&r, 400, "BAD_REQUEST");
    assert_eq!(j["message"], "okta_username must be at most 256 bytes");
    let r = h.login(json!({"okta_username": "u", "okta_password": "p".repeat(1025)}));
    let j = assert_error(&r, 400, "BAD_REQUEST");
    assert_eq!(j["message"], "okta_password must be at most 1024 bytes");
}

#[test]
fn an_oidc_subject_over_255_bytes_is_refused() {
    let signer = TestSigner::new(Algorithm::RS256, "rs");
    let h = Harness::oidc(&[&signer]);
    let now = h.now.get() / 1000;
    let token = |sub: &str| {
        signer.sign(
            &json!({"iss": "https://issuer.example", "aud": "guardian", "sub": sub,
                            "iat": now, "exp": now + 600}),
        )
    };
    let r = h.login(json!({"id_token": token(&"s".repeat(256))}));
    let j = assert_error(&r, 400, "BAD_REQUEST");
    assert_eq!(j["message"], "the id_token's sub must be at most 255 bytes");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
    let r = h.login(json!({"id_token": token(&"s".repeat(255))}));
    assert_eq!(r.status, 200, "{}", json(&r));
}

#[test]
fn identity_provider_settings_have_limits() {
    let h = Harness::new();
    h.set_var("admin_token", "adm");
    let r = h.admin_req(
        Request::new("POST", "/guardian/authorize")
            .with_header("authorization", "Bearer adm")
            .with_body(
                json!({"oidc_issuer": "https://i", "oidc_audience": "a",
                       "oidc_jwks_url": format!("https://i/{}", "j".repeat(2048))})
                .to_string(),
            ),
    );
    let j = assert_error(&r, 400, "BAD_REQUEST");
    assert_eq!(j["message"], "oidc_jwks_url must be at most 2048 bytes");
    guardian_service::store::ensure_schema(&h.db).expect("schema");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_config"), 0);
}
