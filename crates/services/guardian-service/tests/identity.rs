//! Identities bound to the provider that asserted them, and export's fresh authentication
//! (docs/guardian.md, "User identity", "OpenID Connect", "Design: export"), natively: a real
//! SQLite file, a scripted identity provider.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use guest_kit::{OutboundResponse, Request, Response};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use keyward_test_kit::audit::rows_since;
use keyward_test_kit::scenarios::guardian::ADDR0;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ADMIN: &str = "admin-token-for-the-identity-test";
const OTHER_JWKS: &str = "https://keys.elsewhere.example/jwks";

fn authorize(h: &Harness, body: Value) -> Response {
    h.admin_req(
        Request::new("POST", "/guardian/authorize")
            .with_header("authorization", format!("Bearer {ADMIN}"))
            .with_body(body.to_string()),
    )
}

fn export(h: &Harness, token: &str) -> Response {
    h.export_req(
        Request::new("POST", "/guardian/export")
            .with_header("authorization", format!("Bearer {token}")),
    )
}

fn token(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(r)["client_token"].as_str().expect("token").to_owned()
}

fn okta_login(h: &Harness) -> Response {
    h.login(json!({"okta_username": "u@example.com", "okta_password": "pw"}))
}

/// The id_token claim a login's `nonce` must be answered with.
fn nonce_claim(nonce: &str) -> String {
    B64.encode(Sha256::digest(nonce.as_bytes()))
}

fn claims(h: &Harness, sub: &str, salt: u32) -> Value {
    let now = h.now.get() / 1000;
    json!({"iss": OIDC_ISSUER, "aud": OIDC_AUDIENCE, "sub": sub, "iat": now, "exp": now + 600,
           "jti": format!("j-{salt}")})
}

/// Serves `signers` as the JWKS at any URL.
fn serve_jwks(h: &Harness, signers: &[&TestSigner]) {
    let doc = jwks_json(signers);
    h.idp(move |_, _| {
        Ok(OutboundResponse {
            headers: Vec::new(),
            status: 200,
            body: doc.clone().into_bytes(),
        })
    });
}

#[test]
fn a_repointed_okta_org_does_not_reach_an_existing_user() {
    let h = Harness::new();
    h.set_var("admin_token", ADMIN);
    h.okta_success("00uAlice");
    let first = okta_login(&h);
    let alice = token(&first);
    assert_eq!(h.call("GET", "/guardian/sign", &alice, None).status, 200);
    // The maintainer points guardian at another org, which asserts the same Okta user id.
    assert_eq!(
        authorize(&h, json!({"okta_base_url": "https://evil.example"})).status,
        200
    );
    let tokens = h.count("SELECT COUNT(*) FROM gd_token");
    let from = keyward_test_kit::audit::records(&h.db).len();
    let j = assert_error(&okta_login(&h), 403, "IDENTITY_PROVIDER_MISMATCH");
    assert!(j.get("client_token").is_none(), "{j}");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_token"), tokens);
    let rows = rows_since(&h.db, from);
    assert_eq!(rows.len(), 1);
    let (action, outcome, code, actor, object, details) = &rows[0];
    assert_eq!(
        (
            action.as_str(),
            outcome.as_str(),
            code.as_str(),
            actor.as_str(),
            object.as_str()
        ),
        (
            "user.login",
            "failure",
            "IDENTITY_PROVIDER_MISMATCH",
            "user=okta:00uAlice",
            ""
        )
    );
    assert_eq!(details["provider"], "okta|https://evil.example:443");
    // A user the other org makes up is a new identity, bound to that org.
    h.okta_success("00uMallory");
    let r = okta_login(&h);
    assert_eq!((r.status, json(&r)["created"].clone()), (200, json!(true)));
    // Back at the org that created her, Alice logs in again.
    assert_eq!(authorize(&h, json!({"okta_base_url": null})).status, 200);
    h.okta_success("00uAlice");
    assert_eq!(json(&okta_login(&h))["created"], false);
    assert_eq!(
        h.db_text("SELECT provider FROM gd_user_provider WHERE user_id = 'okta:00uAlice'"),
        format!("okta|{OKTA}:443")
    );
}

#[test]
fn a_repointed_jwks_url_does_not_reach_an_existing_user() {
    let ours = TestSigner::new(Algorithm::RS256, "ours");
    let theirs = TestSigner::new(Algorithm::ES256, "theirs");
    let h = Harness::oidc(&[&ours]);
    h.set_var("admin_token", ADMIN);
    let r = h.login(json!({"id_token": ours.sign(&claims(&h, "s-1", 1))}));
    let t = token(&r);
    assert_eq!(h.call("GET", "/guardian/sign", &t, None).status, 200);
    // Same issuer, other keys: whoever holds them could sign any sub.
    assert_eq!(
        authorize(&h, json!({"oidc_jwks_url": OTHER_JWKS})).status,
        200
    );
    serve_jwks(&h, &[&theirs]);
    assert_error(
        &h.login(json!({"id_token": theirs.sign(&claims(&h, "s-1", 2))})),
        403,
        "IDENTITY_PROVIDER_MISMATCH",
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 1);
    // Email mode binds the same way.
    h.set_var("oidc_user_claim", "email");
    assert_eq!(authorize(&h, json!({"oidc_jwks_url": null})).status, 200);
    serve_jwks(&h, &[&ours]);
    let mut c = claims(&h, "s-2", 3);
    c["email"] = json!("Ann@Example.com");
    c["email_verified"] = json!(true);
    assert_eq!(h.login(json!({"id_token": ours.sign(&c)})).status, 200);
    assert_eq!(
        authorize(&h, json!({"oidc_jwks_url": OTHER_JWKS})).status,
        200
    );
    serve_jwks(&h, &[&theirs]);
    let mut c = claims(&h, "s-3", 4);
    c["email"] = json!("ann@example.com");
    c["email_verified"] = json!(true);
    assert_error(
        &h.login(json!({"id_token": theirs.sign(&c)})),
        403,
        "IDENTITY_PROVIDER_MISMATCH",
    );
}

/// A user made before bindings existed is bound by its next login, and from then on only
/// that provider reaches it.
#[test]
fn a_user_from_before_is_bound_at_its_next_login() {
    let h = Harness::new();
    h.set_var("admin_token", ADMIN);
    h.insert_user("okta:00uOld", HARDHAT, ADDR0);
    h.okta_success("00uOld");
    let from = keyward_test_kit::audit::records(&h.db).len();
    let r = h.login(json!({"okta_username": "u", "okta_password": "pw", "get_address": true}));
    assert_eq!(json(&r)["address"], ADDR0);
    assert_eq!(rows_since(&h.db, from)[0].5["provider_bound"], true);
    assert_eq!(
        h.db_text("SELECT provider FROM gd_user_provider"),
        format!("okta|{OKTA}:443")
    );
    authorize(&h, json!({"okta_base_url": "https://evil.example"}));
    assert_error(&okta_login(&h), 403, "IDENTITY_PROVIDER_MISMATCH");
}

#[test]
fn a_nonce_binds_the_id_token_to_the_login() {
    let rs = TestSigner::new(Algorithm::RS256, "rs");
    let h = Harness::oidc(&[&rs]);
    let nonce = "n-0123456789abcdef";
    let mut c = claims(&h, "s-1", 1);
    c["nonce"] = json!(nonce_claim(nonce));
    assert_eq!(
        h.login(json!({"id_token": rs.sign(&c), "nonce": nonce}))
            .status,
        200
    );
    // The app's own token: another nonce, or none at all.
    for (salt, claim) in [
        (2, json!(nonce_claim("other"))),
        (3, json!(nonce)),
        (4, Value::Null),
    ] {
        let mut c = claims(&h, "s-1", salt);
        if !claim.is_null() {
            c["nonce"] = claim;
        }
        let j = assert_error(
            &h.login(json!({"id_token": rs.sign(&c), "nonce": nonce})),
            401,
            "ID_TOKEN_INVALID",
        );
        assert!(j["message"].as_str().unwrap().contains("nonce"), "{j}");
    }
    // The field's shape.
    let t = rs.sign(&claims(&h, "s-1", 5));
    for bad in [
        json!({"id_token": t, "nonce": 5}),
        json!({"id_token": t, "nonce": ""}),
        json!({"id_token": t, "nonce": "x".repeat(257)}),
        json!({"okta_username": "u", "okta_password": "pw", "nonce": nonce}),
    ] {
        assert_error(&h.login(bad), 400, "BAD_REQUEST");
    }
    // Without a nonce: accepted unless the deployment requires one.
    assert_eq!(h.login(json!({"id_token": t})).status, 200);
    h.set_var("oidc_require_nonce", "true");
    let j = assert_error(
        &h.login(json!({"id_token": rs.sign(&claims(&h, "s-1", 6))})),
        400,
        "BAD_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("nonce"), "{j}");
}

#[test]
fn export_needs_a_fresh_authentication_made_for_guardian() {
    let rs = TestSigner::new(Algorithm::RS256, "rs");
    let h = Harness::oidc(&[&rs]);
    h.set_var("allow_export", "true");
    let now = h.now.get() / 1000;
    let nonce = "spa-login-nonce-1";
    // (the claims' nonce and auth_time, the body's nonce, whether export accepts the login)
    let cases = [
        (None, Some(now), None, false),          // the app's own id_token
        (Some(nonce), None, Some(nonce), false), // no auth_time
        (Some(nonce), Some(now - 301), Some(nonce), false), // authenticated too long ago
        (Some(nonce), Some(now - 10), Some(nonce), true),
    ];
    let mut addr = String::new();
    for (salt, (claim_nonce, auth_time, body_nonce, fresh)) in cases.into_iter().enumerate() {
        let mut c = claims(&h, "s-1", salt as u32);
        if let Some(n) = claim_nonce {
            c["nonce"] = json!(nonce_claim(n));
        }
        if let Some(t) = auth_time {
            c["auth_time"] = json!(t);
        }
        let mut body = json!({"id_token": rs.sign(&c)});
        if let Some(n) = body_nonce {
            body["nonce"] = json!(n);
        }
        let t = token(&h.login(body));
        if fresh {
            let r = export(&h, &t);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert_eq!(json(&r)["address"], addr.as_str());
        } else {
            let j = assert_error(&export(&h, &t), 403, "FRESH_LOGIN_REQUIRED");
            assert!(j["message"].as_str().unwrap().contains("nonce"), "{j}");
            // Still a login token: it signs.
            let r = h.call("GET", "/guardian/sign", &t, None);
            assert_eq!(r.status, 200);
            addr = json(&r)["public_address"].as_str().unwrap().to_owned();
        }
    }
    // A token made for guardian signs too, and its age counts from the authentication.
    let mut c = claims(&h, "s-1", 10);
    c["nonce"] = json!(nonce_claim(nonce));
    c["auth_time"] = json!(now - 250);
    let t = token(&h.login(json!({"id_token": rs.sign(&c), "nonce": nonce})));
    let r = h.call("GET", "/guardian/sign", &t, None);
    assert_eq!(r.status, 200);
    let old = token(&h.login(json!({"id_token": rs.sign(&{
        let mut c = claims(&h, "s-1", 11);
        c["nonce"] = json!(nonce_claim(nonce));
        c["auth_time"] = json!(now - 250);
        c
    }), "nonce": nonce})));
    h.advance_secs(51);
    assert_error(&export(&h, &old), 403, "FRESH_LOGIN_REQUIRED");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_export_log"), 1);
}

/// Okta logins are authenticated by guardian itself (password and push): they qualify.
#[test]
fn an_okta_login_qualifies_for_export() {
    let h = Harness::new();
    h.set_var("allow_export", "true");
    let t = h.okta_login_token("00uE");
    assert_eq!(export(&h, &t).status, 200);
}
