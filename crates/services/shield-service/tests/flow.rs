//! Native end-to-end flows through `shield_service::handle` (real SQLite, fake clock).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test reports by failing

mod common;

use common::*;
use guest_kit::{OutboundResponse, Request};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use serde_json::{Value, json};

/// A project with a CUSTOM PEM (RS256) provider; returns it and a token factory.
fn pem_project(h: &Harness, with_key: bool) -> (Project, TestSigner) {
    let p = h.register(with_key);
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"pem": signer.public_pem(), "key_type": "rsa"}}})),
    )
    .ok(200);
    (p, signer)
}

fn token(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": T0_MS / 1000 + 600}))
}

fn user_share() -> Value {
    json!({"secret": "s3cret", "entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"})
}

#[test]
fn register_and_project() {
    let h = Harness::new();
    let r = h
        .call(
            Request::new("POST", "/register")
                .with_body(r#"{"name":"n","generate_encryption_key":true}"#),
        )
        .ok(201);
    assert_eq!(r["enabled_2fa"], false);
    assert_eq!(r["api_secret"].as_str().map(str::len), Some(64));
    let part = r["encryption_part"].as_str().expect("part");
    assert_eq!(part.len(), 44);
    assert_eq!(
        base64_first_byte(part),
        2,
        "the encryption part is the x=2 share"
    );
    let p = Project {
        api_key: r["api_key"].as_str().unwrap().into(),
        api_secret: r["api_secret"].as_str().unwrap().into(),
        part: None,
        id: r["id"].as_str().unwrap().into(),
    };
    let got = h.ps(&p, "GET", "/project", None).ok(200);
    assert_eq!(got, json!({"id": p.id, "name": "n", "enabled_2fa": false}));
    // docs/shield.md, "Design: authentication" order.
    h.call(Request::new("GET", "/project"))
        .assert_error(401, "A_MISSING", "Missing API key");
    h.call(Request::new("GET", "/project").with_header("X-API-Key", "x"))
        .assert_error(401, "A_MISSING", "Missing API secret");
    h.call(
        Request::new("GET", "/project")
            .with_header("X-API-Key", "x")
            .with_header("X-API-Secret", "y"),
    )
    .assert_error(401, "A_INVALID", "Invalid API key or API secret");
    h.call(
        Request::new("GET", "/project")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-API-Secret", "00".repeat(32)),
    )
    .assert_error(401, "A_INVALID", "Invalid API key or API secret");
    // Upper-case hex works.
    h.call(
        Request::new("GET", "/project")
            .with_header("x-api-key", &p.api_key)
            .with_header("x-api-secret", p.api_secret.to_uppercase()),
    )
    .ok(200);
    // Only the digest is stored.
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM projects WHERE api_secret_sha256 = '{}'",
            p.api_secret
        )),
        0
    );
    // Phase-1 OTP, reset secret.
    h.ps(&p, "POST", "/project/enable-2fa", Some(json!({})))
        .assert_error(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA");
    h.ps(&p, "POST", "/project/otp", Some(json!({})))
        .assert_error(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA");
    h.ps(&p, "POST", "/project/reset-api-secret", None)
        .assert_error(501, "NOT_IMPLEMENTED", "Not implemented");
    h.call(Request::new("POST", "/register").with_body(r#"{"name":"n","enable_2fa":true}"#))
        .assert_error(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA");
    // JSON decoding rules.
    for bad in [
        "",
        "[]",
        "{\"name\":1}",
        "{} x",
        "{\"generate_encryption_key\":\"yes\"}",
    ] {
        h.call(Request::new("POST", "/register").with_body(bad))
            .assert_error(400, "BAD_REQUEST", "failed to parse request body");
    }
    h.call(Request::new("POST", "/register").with_body(r#"{"name":null,"unknown":[1]}"#))
        .ok(201);
    let sm = h.call(Request::new("GET", "/storage-methods")).ok(200);
    assert_eq!(
        sm,
        json!({"methods":[{"id":0,"name":"Shield"},{"id":1,"name":"Google Drive"},{"id":2,"name":"iCloud"}]})
    );
}

fn base64_first_byte(b64: &str) -> u8 {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("b64")[0]
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
fn transport_rules() {
    let h = Harness::new();
    let r = h.call(Request::new("GET", "/storage-methods").with_header("X-Request-ID", "abc"));
    assert_eq!(r.header("x-request-id"), Some("abc"));
    let r = h.call(Request::new("GET", "/storage-methods"));
    let id = r.header("x-request-id").expect("generated");
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    h.call(Request::new("GET", "/nope"))
        .assert_error(404, "NOT_FOUND", "Not found");
    h.call(Request::new("PATCH", "/shares")).assert_error(
        405,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    );
    // Preflight as shield-js sends it.
    let pre = h.call(
        Request::new("OPTIONS", "/shares")
            .with_header("Origin", "http://app")
            .with_header("Access-Control-Request-Method", "POST")
            .with_header("Access-Control-Request-Headers", "access-control-allow-origin,content-type,x-api-key,x-auth-provider,authorization,x-encryption-part,traceparent"),
    );
    assert_eq!(pre.status, 204);
    assert!(pre.body.is_empty());
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-max-age"), Some("86400"));
    assert_eq!(pre.header("content-type"), Some("application/json"));
    let denied = h.call(
        Request::new("OPTIONS", "/admin/preregister")
            .with_header("Origin", "http://app")
            .with_header("Access-Control-Request-Method", "POST")
            .with_header("Access-Control-Request-Headers", "x-user-id"),
    );
    assert_eq!(denied.status, 204);
    assert!(denied.header("access-control-allow-origin").is_none());
    let simple =
        h.call(Request::new("GET", "/storage-methods").with_header("Origin", "http://app"));
    assert_eq!(simple.header("access-control-allow-origin"), Some("*"));
    assert_eq!(simple.header("vary"), Some("Origin"));
}

#[test]
fn providers_crud() {
    let h = Harness::new();
    let p = h.register(false);
    let rsa = TestSigner::new(Algorithm::RS256, "k1");
    h.ps(&p, "POST", "/project/providers", Some(json!({})))
        .assert_error(400, "PV_MISSING", "Missing provider");
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"jwk": "https://x/jwks", "pem": "x"}}})),
    )
    .assert_error(
        409,
        "PV_CFG_INVALID",
        "JWK and PEM cannot be set at the same time",
    );
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"pem": rsa.public_pem()}}})),
    )
    .assert_error(400, "PV_CFG_INVALID", "Missing key type");
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"pem": "garbage", "key_type": "rsa"}}})),
    )
    .assert_error(400, "PV_CFG_INVALID", "Invalid PEM certificate");
    let both = h
        .ps(&p, "POST", "/project/providers", Some(json!({"providers": {"openfort": {"publishable_key": "pk_1"}, "custom": {"jwk": "https://idp/jwks.json", "provider_id": "ignored"}}})))
        .ok(200);
    let list = both["providers"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["type"], "OPENFORT");
    assert_eq!(list[1]["type"], "CUSTOM");
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"openfort": {"publishable_key": "pk_2"}}})),
    )
    .assert_error(
        409,
        "PV_EXISTS",
        "Custom authentication already registered for this project",
    );
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"jwk": "https://o"}}})),
    )
    .assert_error(
        409,
        "PV_EXISTS",
        "Custom authentication already registered for this project",
    );
    let custom_id = list[1]["provider_id"].as_str().unwrap().to_owned();
    let of_id = list[0]["provider_id"].as_str().unwrap().to_owned();
    let got = h
        .ps(&p, "GET", &format!("/project/providers/{custom_id}"), None)
        .ok(200);
    assert_eq!(
        got,
        json!({"provider_id": custom_id, "type": "CUSTOM", "jwk": "https://idp/jwks.json", "cookie_field_name": ""})
    );
    let got = h
        .ps(&p, "GET", &format!("/project/providers/{of_id}"), None)
        .ok(200);
    assert_eq!(
        got,
        json!({"provider_id": of_id, "type": "OPENFORT", "publishable_key": "pk_1"})
    );
    // PUT: foreign field, PEM mode, cookie.
    h.ps(
        &p,
        "PUT",
        &format!("/project/providers/{of_id}"),
        Some(json!({"pem": "x"})),
    )
    .assert_error(400, "PV_CFG_INVALID", "Invalid provider config");
    h.ps(
        &p,
        "PUT",
        &format!("/project/providers/{custom_id}"),
        Some(json!({"pem": rsa.public_pem()})),
    )
    .assert_error(400, "PV_CFG_INVALID", "Missing key type");
    let r = h.ps(
        &p,
        "PUT",
        &format!("/project/providers/{custom_id}"),
        Some(json!({"pem": rsa.public_pem(), "key_type": "rsa", "cookie_field_name": "tok"})),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let got = h
        .ps(&p, "GET", &format!("/project/providers/{custom_id}"), None)
        .ok(200);
    assert_eq!(got["key_type"], "rsa");
    assert!(got.get("jwk").is_none());
    assert_eq!(got["cookie_field_name"], "tok");
    // Foreign id → 404 on every verb.
    let other = h.register(false);
    for m in ["GET", "PUT", "DELETE"] {
        h.ps(
            &other,
            m,
            &format!("/project/providers/{custom_id}"),
            Some(json!({})),
        )
        .assert_error(404, "PV_NOT_FOUND", "Provider not found");
    }
    let r = h.ps(&p, "DELETE", &format!("/project/providers/{of_id}"), None);
    assert_eq!(r.status, 200);
    let after = h.ps(&p, "GET", "/project/providers", None).ok(200);
    assert_eq!(after["providers"].as_array().map(Vec::len), Some(1));
    let empty = h.ps(&other, "GET", "/project/providers", None).ok(200);
    assert_eq!(empty, json!({"providers": []}));
}

#[test]
fn user_auth_and_user_share_round_trip() {
    let h = Harness::new();
    let (p, signer) = pem_project(&h, false);
    let t = token(&signer, "alice");
    // U errors.
    h.call(Request::new("GET", "/shares").with_header("X-API-Key", &p.api_key))
        .assert_error(401, "A_MISSING", "Missing auth provider");
    h.call(
        h.user(&p, &t, "GET", "/shares")
            .with_header("X-Auth-Provider", "x"),
    )
    .assert_error(404, "SH_NOT_FOUND", "Share not found"); // first header wins: custom
    let bad_provider = Request::new("GET", "/shares")
        .with_header("X-API-Key", &p.api_key)
        .with_header("X-Auth-Provider", "foo")
        .with_header("Authorization", format!("Bearer {t}"));
    h.call(bad_provider)
        .assert_error(401, "A_INVALID", "Invalid auth provider");
    let openfort = Request::new("GET", "/shares")
        .with_header("X-API-Key", &p.api_key)
        .with_header("X-Auth-Provider", "openfort")
        .with_header("Authorization", format!("Bearer {t}"));
    h.call(openfort)
        .assert_error(401, "A_INVALID", "Invalid auth provider");
    for auth in ["", "Bearer", &t, &format!("Bearer {t} x")] {
        let r = Request::new("GET", "/shares")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "custom")
            .with_header("Authorization", auth);
        h.call(r).assert_error(401, "A_INVALID", "Invalid token");
    }
    let expired = signer.sign(&json!({"sub": "alice", "exp": T0_MS / 1000 - 1}));
    h.call(h.user(&p, &expired, "GET", "/shares"))
        .assert_error(401, "A_INVALID", "Invalid token");
    let no_sub = signer.sign(&json!({"exp": T0_MS / 1000 + 60}));
    h.call(h.user(&p, &no_sub, "GET", "/shares"))
        .assert_error(401, "A_INVALID", "Invalid token");
    let other_key = TestSigner::alt(Algorithm::RS256, "k1").sign(&json!({"sub": "alice"}));
    h.call(h.user(&p, &other_key, "GET", "/shares"))
        .assert_error(401, "A_INVALID", "Invalid token");
    let hs = jwt_verify::test_signer::hs256_token(
        b"k",
        &json!({"alg": "HS256"}),
        &json!({"sub": "alice"}),
    );
    h.call(h.user(&p, &hs, "GET", "/shares"))
        .assert_error(401, "A_INVALID", "Invalid token");
    let ps256 = TestSigner::new(Algorithm::PS256, "k1").sign(&json!({"sub": "alice"}));

    // Round trip.
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(user_share().to_string()),
    )
    .ok(201);
    let got = h.call(h.user(&p, &ps256, "GET", "/shares")).ok(200);
    assert_eq!(got["secret"], "s3cret");
    assert_eq!(got["reference"], "default");
    assert_eq!(got["iterations"], 1000);
    assert!(got["keychain_id"].is_string());
    assert!(got.get("storage_method_id").is_none());
    let enc = h.call(h.user(&p, &t, "GET", "/shares/encryption")).ok(200);
    assert_eq!(
        enc,
        json!({"entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"})
    );
    // Second default → 409; keychain.
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(user_share().to_string()),
    )
    .assert_error(409, "SH_EXISTS", "Share already exists");
    let mut other = user_share();
    other["reference"] = "r2".into();
    other["storage_method_id"] = 1.into();
    h.now_ms.set(T0_MS + 1);
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(other.to_string()),
    )
    .ok(201);
    let kc = h.call(h.user(&p, &t, "GET", "/keychain")).ok(200);
    let refs: Vec<&str> = kc["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["default", "r2"]);
    let one = h
        .call(h.user(&p, &t, "GET", "/keychain?reference=r2"))
        .ok(200);
    assert_eq!(one["shares"][0]["storage_method_id"], 1);
    h.call(h.user(&p, &t, "GET", "/keychain?reference=zz"))
        .assert_error(404, "SH_NOT_FOUND", "Share not found");
    // Another user of the project cannot take r2; another project can.
    let bob = token(&signer, "bob");
    h.call(
        h.user(&p, &bob, "POST", "/shares")
            .with_body(other.to_string()),
    )
    .assert_error(409, "SH_EXISTS", "Share already exists");
    h.call(h.user(&p, &bob, "GET", "/shares/r2")).assert_error(
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    let empty = h.call(h.user(&p, &bob, "GET", "/keychain")).ok(200);
    assert_eq!(empty, json!({"shares": []}));
    let (p2, s2) = pem_project(&h, false);
    h.call(
        h.user(&p2, &token(&s2, "alice"), "POST", "/shares")
            .with_body(other.to_string()),
    )
    .ok(201);
    // PUT with reference "" updates default and echoes.
    let upd = json!({"secret": "new", "entropy": "user", "salt": "s2", "iterations": 5, "length": 16, "digest": "d", "reference": "", "encryption_part": ""});
    let echoed = h
        .call(h.user(&p, &t, "PUT", "/shares").with_body(upd.to_string()))
        .ok(200);
    assert_eq!(
        echoed,
        json!({"secret": "new", "entropy": "user", "salt": "s2", "iterations": 5, "length": 16, "digest": "d"})
    );
    assert_eq!(
        h.call(h.user(&p, &t, "GET", "/shares")).ok(200)["secret"],
        "new"
    );
    let mut missing = upd.clone();
    missing["reference"] = "nope".into();
    h.call(
        h.user(&p, &t, "PUT", "/shares")
            .with_body(missing.to_string()),
    )
    .assert_error(404, "SH_NOT_FOUND", "Share not found");
    // DELETE.
    let d = h.call(h.user(&p, &t, "DELETE", "/shares"));
    assert_eq!(d.status, 204);
    h.call(h.user(&p, &t, "GET", "/shares"))
        .assert_error(404, "SH_NOT_FOUND", "Share not found");
    h.call(h.user(&p, &t, "DELETE", "/shares")).assert_error(
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    assert_eq!(h.call(h.user(&p, &t, "DELETE", "/shares/r2")).status, 204);
    // POST /user returns the same internal user.
    let providers = h.ps(&p, "GET", "/project/providers", None).ok(200);
    let pid = providers["providers"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u1 = h
        .ps(
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "alice", "provider_id": pid})),
        )
        .ok(201);
    let u2 = h
        .ps(
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "alice", "provider_id": pid})),
        )
        .ok(201);
    assert_eq!(u1, u2);
    assert_eq!(h.count("SELECT COUNT(*) FROM users"), 3);
    h.ps(
        &p,
        "POST",
        "/user",
        Some(json!({"external_user_id": "", "provider_id": pid})),
    )
    .assert_error(400, "BAD_REQUEST", "external_user_id is required");
    h.ps(&p, "POST", "/user", Some(json!({"external_user_id": "a"})))
        .assert_error(400, "BAD_REQUEST", "provider_id is required");
    h.ps(
        &p2,
        "POST",
        "/user",
        Some(json!({"external_user_id": "a", "provider_id": pid})),
    )
    .assert_error(404, "PV_NOT_FOUND", "Provider not found");
}

#[test]
fn validator_messages() {
    let h = Harness::new();
    let (p, signer) = pem_project(&h, true);
    let t = token(&signer, "v");
    let cases = [
        (json!({"entropy": "user"}), "secret is required"),
        (
            json!({"secret": "x", "entropy": "user", "storage_method_id": 7}),
            "invalid storage method",
        ),
        (json!({"secret": "x"}), "require share entropy to be set"),
        (
            json!({"secret": "x", "entropy": "none"}),
            "require share entropy to be set",
        ),
        (
            json!({"secret": "x", "entropy": "user"}),
            "salt is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s"}),
            "iterations is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s", "iterations": 1}),
            "length is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s", "iterations": 1, "length": 1}),
            "digest is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "project", "storage_method_id": 1}),
            "storage_method must be Shield if entropy is project",
        ),
        (
            json!({"secret": "x", "entropy": "project", "salt": "s"}),
            "if user entropy is not set, encryption parameters should not be set",
        ),
        (
            json!({"secret": "x", "entropy": "project"}),
            "encryption_part or encryption_session is required when entropy is project",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "storage_method_id": 2}),
            "storage_method must be Shield if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "default"}),
            "share needs a valid share reference if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r"}),
            "passkey_reference must be set if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": ""}}),
            "passkey_reference must contain passkey_id if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": "p"}, "digest": "d"}),
            "if user entropy is not set, encryption parameters should not be set",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": "p"}, "encryption_session": "s"}),
            "encryption parameters should not be set for passkey entropy",
        ),
        (
            json!({"secret": "x", "entropy": "weird"}),
            "invalid entropy",
        ),
    ];
    for (body, msg) in cases {
        h.call(
            h.user(&p, &t, "POST", "/shares")
                .with_body(body.to_string()),
        )
        .assert_error(400, "BAD_REQUEST", msg);
    }
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(r#"{"secret":"x","entropy":"user","iterations":"1000"}"#),
    )
    .assert_error(400, "BAD_REQUEST", "failed to parse request body");
    assert_eq!(h.count("SELECT COUNT(*) FROM shares"), 0);
    // Someone else's keychain (kw): 400; the caller's own or "" is fine.
    let mut foreign = user_share();
    foreign["keychain_id"] = "not-mine".into();
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(foreign.to_string()),
    )
    .assert_error(400, "BAD_REQUEST", "invalid keychain_id");
    let mut empty = user_share();
    empty["keychain_id"] = "".into();
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(empty.to_string()),
    )
    .ok(201);
    let own = h.call(h.user(&p, &t, "GET", "/shares")).ok(200)["keychain_id"].clone();
    let mut mine = user_share();
    mine["keychain_id"] = own;
    mine["reference"] = "second".into();
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(mine.to_string()),
    )
    .ok(201);
}

#[test]
fn project_entropy_parts_and_sessions() {
    let h = Harness::new();
    let (p, signer) = pem_project(&h, false);
    let t = token(&signer, "carol");
    let share = |part: Option<&str>, session: Option<&str>| {
        let mut b = json!({"secret": "top", "entropy": "project"});
        if let Some(x) = part {
            b["encryption_part"] = x.into();
        }
        if let Some(x) = session {
            b["encryption_session"] = x.into();
        }
        b.to_string()
    };
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(share(Some("AAAA"), None)),
    )
    .assert_error(409, "EC_MISSING", "Encryption not configured");
    h.ps(
        &p,
        "POST",
        "/project/encryption-session",
        Some(json!({"encryption_part": "x"})),
    )
    .assert_error(409, "EC_MISSING", "Encryption not configured");
    let part = h.ps(&p, "POST", "/project/encryption-key", None).ok(200)["encryption_part"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ps(&p, "POST", "/project/encryption-key", None)
        .assert_error(409, "EC_EXISTS", "Encryption part already exists");
    // Wrong-but-well-formed part (x=2, different polynomial) and malformed ones: 400, nothing written.
    let wrong = "AgsugC3CJpBt+gGB7d6DnzaMcJHpaCCl4N6w5r5+NFuG";
    let raw = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&part)
            .unwrap()
    };
    let enc = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let mut x1 = raw.clone();
    x1[0] = 1;
    let (x1, short, long) = (
        enc(&x1),
        enc(&raw[..31]),
        enc(&[raw.as_slice(), &[0]].concat()),
    );
    for bad in [wrong, "!!!", "AAAA", &x1, &short, &long] {
        h.call(
            h.user(&p, &t, "POST", "/shares")
                .with_body(share(Some(bad), None)),
        )
        .assert_error(400, "EC_INVALID", "Invalid encryption part");
        h.ps(
            &p,
            "POST",
            "/project/encryption-session",
            Some(json!({"encryption_part": bad})),
        )
        .assert_error(400, "EC_INVALID", "Invalid encryption part");
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM shares"), 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM encryption_sessions"), 0);
    // Write with the part, read without → 409, with header → plaintext; wrong header → 400.
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(share(Some(&part), None)),
    )
    .ok(201);
    h.call(h.user(&p, &t, "GET", "/shares")).assert_error(
        409,
        "EC_MISSING",
        "The requested share have project entropy and encryption part is required",
    );
    let got = h
        .call(
            h.user(&p, &t, "GET", "/shares")
                .with_header("X-Encryption-Part", &part),
        )
        .ok(200);
    assert_eq!(got["secret"], "top");
    assert_eq!(got["entropy"], "project");
    h.call(
        h.user(&p, &t, "GET", "/shares")
            .with_header("X-Encryption-Part", wrong),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption part");
    // Sessions: single use, project-bound, 5 min TTL; a 404/409 leaves it usable.
    let sid = |h: &Harness| {
        h.ps(
            &p,
            "POST",
            "/project/encryption-session",
            Some(json!({"encryption_part": part, "otp_code": null})),
        )
        .ok(200)["session_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let s1 = sid(&h);
    assert_eq!(s1.len(), 36);
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(share(None, Some(&s1))),
    )
    .assert_error(409, "SH_EXISTS", "Share already exists");
    let mut b =
        json!({"secret": "r2", "entropy": "project", "reference": "r2", "encryption_session": s1});
    h.now_ms.set(T0_MS + 1);
    h.call(h.user(&p, &t, "POST", "/shares").with_body(b.to_string()))
        .ok(201);
    b["reference"] = "r3".into();
    h.call(h.user(&p, &t, "POST", "/shares").with_body(b.to_string()))
        .assert_error(400, "EC_INVALID", "Invalid encryption session");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM shares WHERE reference = 'r3'"),
        0
    );
    // Keychain with several project shares on one session.
    let s2 = sid(&h);
    let kc = h
        .call(
            h.user(&p, &t, "GET", "/keychain")
                .with_header("X-Encryption-Session", &s2),
        )
        .ok(200);
    let secrets: Vec<&str> = kc["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["secret"].as_str().unwrap())
        .collect();
    assert_eq!(secrets, ["top", "r2"]);
    h.now_ms.set(T0_MS);
    h.call(
        h.user(&p, &t, "GET", "/keychain")
            .with_header("X-Encryption-Session", &s2),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
    // Expiry.
    let s3 = sid(&h);
    h.now_ms.set(T0_MS + 5 * 60 * 1000);
    let t_late = signer.sign(&json!({"sub": "carol", "exp": T0_MS / 1000 + 6000}));
    h.call(
        h.user(&p, &t_late, "GET", "/shares")
            .with_header("X-Encryption-Session", &s3),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
    h.now_ms.set(T0_MS);
    // Other project.
    let s4 = sid(&h);
    let (p2, sig2) = pem_project(&h, true);
    let t2 = token(&sig2, "carol");
    h.call(
        h.user(&p2, &t2, "POST", "/shares")
            .with_body(share(None, Some(&s4))),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
    // PUT to user entropy and back; project → GET with session.
    let upd = json!({"secret": "p-new", "entropy": "project", "encryption_part": part});
    h.call(h.user(&p, &t, "PUT", "/shares").with_body(upd.to_string()))
        .ok(200);
    let wrong_upd = json!({"secret": "evil", "entropy": "project", "encryption_part": wrong});
    h.call(
        h.user(&p, &t, "PUT", "/shares")
            .with_body(wrong_upd.to_string()),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption part");
    let s5 = sid(&h);
    assert_eq!(
        h.call(
            h.user(&p, &t, "GET", "/shares")
                .with_header("X-Encryption-Session", &s5)
        )
        .ok(200)["secret"],
        "p-new"
    );
}

#[test]
fn encrypt_converts_none_shares_and_legacy_kcv() {
    let h = Harness::new();
    let (p, _signer) = pem_project(&h, false);
    let providers = h.ps(&p, "GET", "/project/providers", None).ok(200);
    let pid = providers["providers"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uid = h
        .ps(
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "dave", "provider_id": pid})),
        )
        .ok(201)["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ps(
        &p,
        "POST",
        "/shares/migration/import",
        Some(json!({"user_id": uid, "secret": "plain"})),
    )
    .ok(201);
    h.ps(&p, "POST", "/shares/migration/import", Some(json!({"user_id": uid, "secret": "u", "entropy": "user", "salt": "s", "reference": "u1"}))).ok(201);
    h.ps(
        &p,
        "POST",
        "/project/encrypt",
        Some(json!({"encryption_part": "x"})),
    )
    .assert_error(409, "EC_MISSING", "Encryption not configured");
    let part = h.ps(&p, "POST", "/project/encryption-key", None).ok(200)["encryption_part"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ps(
        &p,
        "POST",
        "/project/encrypt",
        Some(json!({"encryption_part": "AgsugC3CJpBt+gGB7d6DnzaMcJHpaCCl4N6w5r5+NFuG"})),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption part");
    h.ps(&p, "POST", "/project/encrypt", Some(json!({})))
        .assert_error(400, "EC_INVALID", "Invalid encryption part");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM shares WHERE entropy = 'none'"),
        1
    );
    let r = h.ps(
        &p,
        "POST",
        "/project/encrypt",
        Some(json!({"encryption_part": part})),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        h.count("SELECT COUNT(*) FROM shares WHERE entropy = 'project'"),
        1
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM shares WHERE entropy = 'user'"),
        1
    );
    // Legacy project (no KCV): a wrong part is accepted on write, the right part then fails (500).
    {
        use guest_kit::Db;
        h.db()
            .execute("UPDATE encryption_keys SET key_check = NULL", &[])
            .expect("update");
    }
    let (_, signer) = (0, TestSigner::new(Algorithm::RS256, "k1"));
    let t = token(&signer, "dave");
    let wrong = "AgsugC3CJpBt+gGB7d6DnzaMcJHpaCCl4N6w5r5+NFuG";
    h.call(h.user(&p, &t, "POST", "/shares").with_body(json!({"secret": "x", "entropy": "project", "reference": "legacy", "encryption_part": wrong}).to_string())).ok(201);
    h.call(
        h.user(&p, &t, "GET", "/shares/legacy")
            .with_header("X-Encryption-Part", &part),
    )
    .assert_error(500, "INTERNAL", "Internal error");
    // Export: project shares never leave; default refused.
    h.ps(&p, "GET", "/shares/migration/export/legacy", None)
        .assert_error(404, "SH_NOT_FOUND", "Share not found");
    h.ps(&p, "GET", "/shares/migration/export/default", None)
        .assert_error(400, "BAD_REQUEST", "reference must not be default");
    let ex = h.ps(&p, "GET", "/shares/migration/export/u1", None).ok(200);
    assert_eq!(
        ex,
        json!({"secret": "u", "entropy": "user", "salt": "s", "reference": "u1", "storage_method_id": 0})
    );
}

#[test]
fn passkey_bulk_import_preregister() {
    let h = Harness::new();
    let (p, signer) = pem_project(&h, false);
    let t = token(&signer, "erin");
    let pk = json!({"secret": "pk", "entropy": "passkey", "reference": "pk1", "passkey_reference": {"passkey_id": "cred-1", "passkey_env": "ignored"}});
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1";
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_header("User-Agent", ua)
            .with_header("User-Agent", ua)
            .with_body(pk.to_string()),
    )
    .assert_error(
        400,
        "BAD_REQUEST",
        "header User-Agent needs to be defined exactly once",
    );
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_header("User-Agent", ua)
            .with_body(pk.to_string()),
    )
    .ok(201);
    let got = h.call(h.user(&p, &t, "GET", "/shares/pk1")).ok(200);
    assert_eq!(got["passkey_reference"]["passkey_id"], "cred-1");
    assert_eq!(got["passkey_reference"]["PasskeyEnv"]["os"], "iOS");
    assert_eq!(got["passkey_reference"]["PasskeyEnv"]["device"], "Mobile");
    h.call(
        h.user(&p, &t, "POST", "/shares")
            .with_body(user_share().to_string()),
    )
    .ok(201);
    // Bulk by reference.
    let refs: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    h.ps(
        &p,
        "POST",
        "/shares/encryption/reference/bulk",
        Some(json!({"references": refs})),
    )
    .assert_error(
        400,
        "BAD_REQUEST",
        "Requests with more than 100 elements are not allowed",
    );
    let b = h
        .ps(
            &p,
            "POST",
            "/shares/encryption/reference/bulk",
            Some(json!({"references": ["pk1", "default", "nope", "pk1"]})),
        )
        .ok(200);
    assert_eq!(b["encryption_types"]["pk1"]["status"], "found");
    assert_eq!(b["encryption_types"]["pk1"]["encryption_type"], "passkey");
    assert_eq!(b["encryption_types"]["pk1"]["passkey_id"], "cred-1");
    assert_eq!(b["encryption_types"]["pk1"]["passkey_env"]["os"], "iOS");
    assert_eq!(
        b["encryption_types"]["default"],
        json!({"status": "not-found"})
    );
    assert_eq!(
        b["encryption_types"]["nope"],
        json!({"status": "not-found"})
    );
    assert_eq!(b["encryption_types"].as_object().map(|o| o.len()), Some(3));
    let other = h.register(false);
    let b = h
        .ps(
            &other,
            "POST",
            "/shares/encryption/reference/bulk",
            Some(json!({"references": ["pk1"]})),
        )
        .ok(200);
    assert_eq!(b["encryption_types"]["pk1"]["status"], "not-found");
    // Bulk by user.
    let b = h
        .ps(
            &p,
            "POST",
            "/shares/encryption/user/bulk",
            Some(json!({"user_ids": ["erin", "nobody"]})),
        )
        .ok(200);
    assert_eq!(b["encryption_types"]["erin"]["encryption_type"], "user");
    assert_eq!(b["encryption_types"]["nobody"]["status"], "not-found");
    let b = h
        .ps(
            &p,
            "POST",
            "/shares/encryption/user/bulk",
            Some(json!({"user_ids": ["erin"], "reference": "pk1"})),
        )
        .ok(200);
    assert_eq!(b["encryption_types"]["erin"]["encryption_type"], "passkey");
    // Import: passkey gets a fresh id; duplicate → 409; foreign user → 404.
    let pid = h.ps(&p, "GET", "/project/providers", None).ok(200)["providers"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uid = h
        .ps(
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "frank", "provider_id": pid})),
        )
        .ok(201)["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let imp = json!({"user_id": uid, "secret": "imp", "entropy": "passkey", "reference": "ipk", "passkey_reference": {"name": "Chrome", "os": "", "osVersion": "1", "device": "Desktop"}});
    h.ps(&p, "POST", "/shares/migration/import", Some(imp.clone()))
        .ok(201);
    h.ps(&p, "POST", "/shares/migration/import", Some(imp.clone()))
        .assert_error(409, "SH_EXISTS", "Share already exists");
    h.ps(&other, "POST", "/shares/migration/import", Some(imp))
        .assert_error(404, "US_NOT_FOUND", "User not found");
    let ex = h
        .ps(&p, "GET", "/shares/migration/export/ipk", None)
        .ok(200);
    assert_eq!(ex["passkey_reference"]["PasskeyEnv"]["os"], "unknown");
    assert_eq!(
        ex["passkey_reference"]["passkey_id"].as_str().map(str::len),
        Some(36)
    );
    // Preregister.
    let prereg = |user: Option<&str>| {
        let mut r = Request::new("POST", "/admin/preregister")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-API-Secret", &p.api_secret)
            .with_header("X-Auth-Provider", "custom")
            .with_body(user_share().to_string());
        if let Some(u) = user {
            r = r.with_header("X-User-ID", u);
        }
        h.call(r)
    };
    prereg(None).assert_error(400, "US_ID_MISSING", "Missing user ID");
    prereg(Some("grace")).ok(201);
    let got = h
        .call(h.user(&p, &token(&signer, "grace"), "GET", "/shares"))
        .ok(200);
    assert_eq!(got["secret"], "s3cret");
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

/// docs/configuration.md: an invalid variable is a misconfigured deployment, not a fallback.
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
fn cookie_mode() {
    let h = Harness::new();
    let p = h.register(false);
    let signer = TestSigner::new(Algorithm::ES256, "k");
    h.ps(&p, "POST", "/project/providers", Some(json!({"providers": {"custom": {"pem": signer.public_pem(), "key_type": "ecdsa", "cookie_field_name": "jwt"}}}))).ok(200);
    let t = token(&signer, "c");
    let base = || {
        Request::new("GET", "/keychain")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "custom")
    };
    h.call(base().with_header("Cookie", format!("a=b; jwt={t}")))
        .ok(200);
    h.call(
        base()
            .with_header("Cookie", format!("jwt={t}"))
            .with_header("Authorization", format!("Bearer {t}")),
    )
    .assert_error(401, "A_INVALID", "Invalid token");
    // ecdsa key rejects RS256.
    let rs = TestSigner::new(Algorithm::RS256, "k").sign(&json!({"sub": "c"}));
    h.call(base().with_header("Cookie", format!("jwt={rs}")))
        .assert_error(401, "A_INVALID", "Invalid token");
}

#[test]
fn racing_session_consumed_once() {
    let h = Harness::new();
    let (p, signer) = pem_project(&h, true);
    let part = p.part.clone().unwrap();
    let t = token(&signer, "racer");
    h.call(h.user(&p, &t, "POST", "/shares").with_body(
        json!({"secret": "s", "entropy": "project", "encryption_part": part}).to_string(),
    ))
    .ok(201);
    let sid = h
        .ps(
            &p,
            "POST",
            "/project/encryption-session",
            Some(json!({"encryption_part": part})),
        )
        .ok(200)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db_path = h.db_path.clone();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db_path = db_path.clone();
                let sid = sid.clone();
                let p = &p;
                let t = &t;
                s.spawn(move || {
                    let db = guest_kit::native::SqliteDb::open(&db_path).unwrap();
                    let lookup = |name: &str| (name == "master_key").then(|| MASTER_KEY.to_owned());
                    let env = shield_service::Env::new(&db, &lookup, T0_MS);
                    let req = Request::new("GET", "/shares")
                        .with_header("X-API-Key", &p.api_key)
                        .with_header("X-Auth-Provider", "custom")
                        .with_header("Authorization", format!("Bearer {t}"))
                        .with_header("X-Encryption-Session", &sid);
                    shield_service::handle(&env, shield_service::Group::Shares, req).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
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
