//! shield end to end (docs/shield.md, "Conformance checklist"): the real `spin.toml` and components, served by
//! `keyward serve` on 127.0.0.1, spoken to over HTTP as shield-js and a project backend would.
//! A local stub stands in for Openfort (third-party, JWKS, get-session) and for CUSTOM JWKS
//! endpoints; tokens are signed with jwt-verify's fixed test keys (RS256, ES256, EdDSA).
//!
//! Most tests share one host (`main_host`) and isolate themselves by project; tests that need
//! other variables or a second instance start their own.

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex, Weak};

use base64::Engine as _;
use jwt_verify::Algorithm;
use jwt_verify::test_signer::TestSigner;
use keyward_e2e::db::ServiceDb;
use keyward_e2e::shield::*;
use keyward_e2e::{Host, HostBuilder, Stub, TEST_MASTER_KEY, Value, json, product_manifest};

// ---------------------------------------------------------------------------------------------
// Stubs and hosts

fn main_host() -> Arc<Host> {
    static SHARED: Mutex<Weak<Host>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = slot.upgrade() {
        return host;
    }
    let host = Arc::new(builder().start());
    *slot = Arc::downgrade(&host);
    host
}

const WRONG_PART: &str = "AgsugC3CJpBt+gGB7d6DnzaMcJHpaCCl4N6w5r5+NFuG";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// shield's database, on whichever backend this pass runs (embedded SQLite or PostgreSQL).
fn db(h: &Host) -> ServiceDb {
    ServiceDb::open(&h.state_dir, "shield")
}

fn share_count(h: &Host, project_id: &str) -> i64 {
    db(h).int(
        "SELECT COUNT(*) FROM shares WHERE project_id = ?1",
        &[project_id.into()],
    )
}

// ---------------------------------------------------------------------------------------------
// docs/shield.md, "Design: transport", "Design: error catalogue", "Design: routes" public routes (checklist 1–4, 30)

#[test]
fn transport_public_routes_and_cors() {
    let h = main_host();
    let r = h.req(
        "GET",
        "/storage-methods",
        &[("X-Request-ID", "req-123")],
        None,
    );
    assert_eq!(
        ok(&r, 200),
        json!({"methods":[{"id":0,"name":"Shield"},{"id":1,"name":"Google Drive"},{"id":2,"name":"iCloud"}]})
    );
    assert_eq!(r.header("x-request-id"), Some("req-123"));
    let generated = h.get("/storage-methods");
    let id = generated.header("x-request-id").expect("request id");
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "{id}"
    );
    let health = h.get("/healthz");
    let hj = ok(&health, 200);
    assert_eq!(hj["status"], "healthy");
    assert_eq!(
        hj["checks"],
        json!([{"name": "database", "status": "healthy"}])
    );
    assert!(health.header("x-request-id").is_some());
    err(&h.get("/shares/a/b"), 404, "NOT_FOUND", "Not found");
    err(&h.get("/project/nope"), 404, "NOT_FOUND", "Not found");
    assert_eq!(h.get("/definitely-not-a-route").error_code(), "NOT_FOUND");
    err(
        &h.req("PATCH", "/shares", &[], None),
        405,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    );
    // Preflight as shield-js sends it.
    let pre = h.req("OPTIONS", "/shares", &[
        ("Origin", "http://localhost:5173"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "access-control-allow-origin,authorization,content-type,x-api-key,x-auth-provider,x-encryption-part,x-encryption-session,x-request-id,traceparent"),
    ], None);
    assert_eq!(pre.status, 204);
    assert!(pre.body.is_empty());
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-max-age"), Some("86400"));
    assert_eq!(pre.header("content-type"), Some("application/json"));
    let denied = h.req(
        "OPTIONS",
        "/admin/preregister",
        &[
            ("Origin", "http://localhost:5173"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "x-api-key,x-user-id"),
        ],
        None,
    );
    assert_eq!(denied.status, 204);
    assert!(denied.header("access-control-allow-origin").is_none());
    let simple = h.req("GET", "/storage-methods", &[("Origin", "http://x")], None);
    assert_eq!(simple.header("access-control-allow-origin"), Some("*"));
    // /register.
    let r = h.req(
        "POST",
        "/register",
        &[],
        Some(br#"{"name":"n","generate_encryption_key":true}"#),
    );
    let j = ok(&r, 201);
    assert_eq!(j["enabled_2fa"], false);
    assert_eq!(j["id"].as_str().map(str::len), Some(36));
    assert_eq!(j["api_key"].as_str().map(str::len), Some(36));
    let secret = j["api_secret"].as_str().expect("secret");
    assert!(
        secret.len() == 64
            && secret
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let part = j["encryption_part"].as_str().expect("part");
    assert_eq!(part.len(), 44);
    assert_eq!(unb64(part)[0], 2);
    err(
        &h.req("POST", "/register", &[], Some(b"[]")),
        400,
        "BAD_REQUEST",
        "failed to parse request body",
    );
    err(
        &h.req("POST", "/register", &[], Some(br#"{"enable_2fa":true}"#)),
        400,
        "OTP_NOT_SUPPORTED",
        "Project doesn't support 2FA",
    );
    let p = register(&h, false);
    err(
        &ps(&h, &p, "POST", "/project/reset-api-secret", None),
        501,
        "NOT_IMPLEMENTED",
        "Not implemented",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/otp",
            Some(json!({"user_id": "u"})),
        ),
        400,
        "OTP_NOT_SUPPORTED",
        "Project doesn't support 2FA",
    );
    err(
        &ps(&h, &p, "POST", "/project/enable-2fa", Some(json!({}))),
        400,
        "OTP_NOT_SUPPORTED",
        "Project doesn't support 2FA",
    );
    let oa = ok(&h.get("/shield/openapi.json"), 200);
    assert_eq!(oa["openapi"], "3.1.0");
}

// docs/shield.md, "Design: authentication", checklist 6
#[test]
fn project_auth_order_and_secret_digest() {
    let h = main_host();
    let p = register(&h, false);
    err(&h.get("/project"), 401, "A_MISSING", "Missing API key");
    err(
        &h.req("GET", "/project", &[("X-API-Key", &p.key)], None),
        401,
        "A_MISSING",
        "Missing API secret",
    );
    err(
        &h.req(
            "GET",
            "/project",
            &[("X-API-Key", "nope"), ("X-API-Secret", &p.secret)],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid API key or API secret",
    );
    err(
        &h.req(
            "GET",
            "/project",
            &[("X-API-Key", &p.key), ("X-API-Secret", "zz")],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid API key or API secret",
    );
    assert_eq!(
        ok(&ps(&h, &p, "GET", "/project", None), 200),
        json!({"id": p.id, "name": "e2e", "enabled_2fa": false})
    );
    let stored = db(&h).text(
        "SELECT api_secret_sha256 FROM projects WHERE id = ?1",
        &[(&p.id).into()],
    );
    use sha2::Digest as _;
    assert_eq!(
        stored,
        hex::encode(sha2::Sha256::digest(hex::decode(&p.secret).expect("hex")))
    );
}

// docs/shield.md, "Design: authentication", checklist 5
#[test]
fn register_token() {
    let h = builder()
        .env("SPIN_VARIABLE_REGISTER_TOKEN", "operator-token")
        .start();
    err(
        &h.req("POST", "/register", &[], Some(b"{}")),
        401,
        "A_MISSING",
        "Missing operator token",
    );
    err(
        &h.req(
            "POST",
            "/register",
            &[("X-Operator-Token", "wrong")],
            Some(b"{}"),
        ),
        401,
        "A_INVALID",
        "Invalid operator token",
    );
    ok(
        &h.req(
            "POST",
            "/register",
            &[("X-Operator-Token", "operator-token")],
            Some(b"{}"),
        ),
        201,
    );
}

// docs/shield.md, "Design: routes" providers, checklist 10, 11
#[test]
fn providers_and_users() {
    let h = main_host();
    let p = register(&h, false);
    err(
        &ps(&h, &p, "POST", "/project/providers", Some(json!({}))),
        400,
        "PV_MISSING",
        "Missing provider",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"custom": {"jwk": "http://x", "pem": "y"}}})),
        ),
        409,
        "PV_CFG_INVALID",
        "JWK and PEM cannot be set at the same time",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"custom": {"pem": rsa().public_pem()}}})),
        ),
        400,
        "PV_CFG_INVALID",
        "Missing key type",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"custom": {"pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "key_type": "rsa"}}}),
            ),
        ),
        400,
        "PV_CFG_INVALID",
        "Invalid PEM certificate",
    );
    let both = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"openfort": {"publishable_key": PK}, "custom": {"jwk": format!("{}/jwks/rsa.json", stub_base())}}}),
            ),
        ),
        200,
    );
    let list = both["providers"].as_array().expect("list");
    assert_eq!(
        list.iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["OPENFORT", "CUSTOM"]
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"openfort": {"publishable_key": "x"}}})),
        ),
        409,
        "PV_EXISTS",
        "Custom authentication already registered for this project",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"custom": {"jwk": "http://x"}}})),
        ),
        409,
        "PV_EXISTS",
        "Custom authentication already registered for this project",
    );
    let custom_id = list[1]["provider_id"].as_str().unwrap().to_owned();
    let got = ok(
        &ps(
            &h,
            &p,
            "GET",
            &format!("/project/providers/{custom_id}"),
            None,
        ),
        200,
    );
    assert_eq!(got["cookie_field_name"], "");
    assert_eq!(got["type"], "CUSTOM");
    assert_eq!(
        ok(&ps(&h, &p, "GET", "/project/providers", None), 200)["providers"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let other = register(&h, false);
    err(
        &ps(
            &h,
            &other,
            "GET",
            &format!("/project/providers/{custom_id}"),
            None,
        ),
        404,
        "PV_NOT_FOUND",
        "Provider not found",
    );
    err(
        &ps(
            &h,
            &other,
            "DELETE",
            &format!("/project/providers/{custom_id}"),
            None,
        ),
        404,
        "PV_NOT_FOUND",
        "Provider not found",
    );
    // The first user request creates the user; POST /user finds the same one.
    let t = rsa().sign(&json!({"sub": "alice", "exp": now_s() + 600}));
    assert_eq!(
        ok(&cu(&h, &p, &t, "GET", "/keychain", &[], None), 200),
        json!({"shares": []})
    );
    let u1 = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "alice", "provider_id": custom_id})),
        ),
        201,
    );
    let u2 = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "alice", "provider_id": custom_id})),
        ),
        201,
    );
    assert_eq!(u1, u2);
    err(
        &ps(
            &h,
            &other,
            "POST",
            "/user",
            Some(json!({"external_user_id": "alice", "provider_id": custom_id})),
        ),
        404,
        "PV_NOT_FOUND",
        "Provider not found",
    );
    // PUT: JWKS → PEM; DELETE makes the users unreachable by token.
    let r = ps(
        &h,
        &p,
        "PUT",
        &format!("/project/providers/{custom_id}"),
        Some(json!({"pem": es().public_pem(), "key_type": "ecdsa", "cookie_field_name": ""})),
    );
    assert_eq!(r.status, 200);
    ok(
        &cu(&h, &p, &tok(&es(), "alice"), "GET", "/keychain", &[], None),
        200,
    );
    assert_eq!(
        ps(
            &h,
            &p,
            "DELETE",
            &format!("/project/providers/{custom_id}"),
            None
        )
        .status,
        200
    );
    err(
        &cu(&h, &p, &tok(&es(), "alice"), "GET", "/keychain", &[], None),
        401,
        "A_INVALID",
        "Invalid auth provider",
    );
}

// docs/shield.md, "Design: authentication", "Design: identity providers", checklist 7, 8, 9
#[test]
fn user_auth_and_identity_providers() {
    let h = main_host();
    let p = register(&h, false);
    pem_provider(&h, &p, &rsa(), "rsa");
    let good = tok(&rsa(), "bob");
    err(
        &h.req("GET", "/shares", &[("X-API-Key", &p.key)], None),
        401,
        "A_MISSING",
        "Missing auth provider",
    );
    err(
        &user(&h, &p, "foo", &good, "GET", "/keychain", &[], None),
        401,
        "A_INVALID",
        "Invalid auth provider",
    );
    err(
        &user(&h, &p, "openfort", &good, "GET", "/keychain", &[], None),
        401,
        "A_INVALID",
        "Invalid auth provider",
    );
    err(
        &h.req(
            "GET",
            "/keychain",
            &[("X-API-Key", &p.key), ("X-Auth-Provider", "custom")],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid token",
    );
    err(
        &h.req(
            "GET",
            "/keychain",
            &[
                ("X-API-Key", &p.key),
                ("X-Auth-Provider", "custom"),
                ("Authorization", &good),
            ],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid token",
    );
    let bad_sig = TestSigner::alt(Algorithm::RS256, "rsa-1").sign(&json!({"sub": "bob"}));
    let expired = rsa().sign(&json!({"sub": "bob", "exp": now_s() - 5}));
    let hs = jwt_verify::test_signer::hs256_token(
        b"secret",
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({"sub": "bob"}),
    );
    let no_sub = rsa().sign(&json!({"exp": now_s() + 60}));
    for t in [&bad_sig, &expired, &hs, &no_sub] {
        err(
            &cu(&h, &p, t, "GET", "/keychain", &[], None),
            401,
            "A_INVALID",
            "Invalid token",
        );
    }
    ok(&cu(&h, &p, &good, "GET", "/keychain", &[], None), 200);
    ok(
        &cu(
            &h,
            &p,
            &TestSigner::new(Algorithm::PS256, "x").sign(&json!({"sub": "bob"})),
            "GET",
            "/keychain",
            &[],
            None,
        ),
        200,
    );
    // ecdsa rejects RS256; ed25519 accepts EdDSA; cookie mode rejects an extra Authorization.
    let pe = register(&h, false);
    pem_provider(&h, &pe, &es(), "ecdsa");
    err(
        &cu(&h, &pe, &good, "GET", "/keychain", &[], None),
        401,
        "A_INVALID",
        "Invalid token",
    );
    ok(
        &cu(&h, &pe, &tok(&es(), "e"), "GET", "/keychain", &[], None),
        200,
    );
    let pd = register(&h, false);
    ok(
        &ps(
            &h,
            &pd,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"custom": {"pem": ed().public_pem(), "key_type": "ed25519", "cookie_field_name": "session"}}}),
            ),
        ),
        200,
    );
    let edt = tok(&ed(), "dora");
    ok(
        &h.req(
            "GET",
            "/keychain",
            &[
                ("X-API-Key", &pd.key),
                ("X-Auth-Provider", "custom"),
                ("Cookie", &format!("other=1; session={edt}")),
            ],
            None,
        ),
        200,
    );
    err(
        &h.req(
            "GET",
            "/keychain",
            &[
                ("X-API-Key", &pd.key),
                ("X-Auth-Provider", "custom"),
                ("Cookie", &format!("session={edt}")),
                ("Authorization", &format!("Bearer {edt}")),
            ],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid token",
    );
    // JWKS mode: ES256 and EdDSA keys by kid.
    let pj = register(&h, false);
    ok(
        &ps(
            &h,
            &pj,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"custom": {"jwk": format!("{}/jwks/ed.json", stub_base())}}}),
            ),
        ),
        200,
    );
    ok(
        &cu(&h, &pj, &tok(&ed(), "j1"), "GET", "/keychain", &[], None),
        200,
    );
    ok(
        &cu(&h, &pj, &tok(&es(), "j2"), "GET", "/keychain", &[], None),
        200,
    );
    err(
        &cu(
            &h,
            &pj,
            &TestSigner::new(Algorithm::ES256, "unknown-kid").sign(&json!({"sub": "x"})),
            "GET",
            "/keychain",
            &[],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid token",
    );
    // Openfort: third party, JWT via JWKS, opaque session.
    let po = register(&h, false);
    ok(
        &ps(
            &h,
            &po,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"openfort": {"publishable_key": PK}}})),
        ),
        200,
    );
    let before = stub().requests().len();
    ok(
        &user(
            &h,
            &po,
            "openfort",
            "third-token",
            "POST",
            "/shares",
            &[
                ("X-Openfort-Provider", "firebase"),
                ("X-Openfort-Token-Type", "idToken"),
                ("X-Request-ID", "rid-42"),
            ],
            Some(user_share(None)),
        ),
        201,
    );
    ok(
        &user(
            &h,
            &po,
            "openfort",
            &tok(&es(), "of-jwt-user"),
            "GET",
            "/keychain",
            &[],
            None,
        ),
        200,
    );
    ok(
        &user(
            &h,
            &po,
            "openfort",
            "opaque-token",
            "GET",
            "/keychain",
            &[],
            None,
        ),
        200,
    );
    err(
        &user(
            &h,
            &po,
            "openfort",
            "expired",
            "GET",
            "/keychain",
            &[],
            None,
        ),
        401,
        "A_INVALID",
        "Invalid token",
    );
    let seen: Vec<_> = stub().requests().into_iter().skip(before).collect();
    let tp = seen
        .iter()
        .find(|r| r.target == "/iam/v1/oauth/third_party")
        .expect("third-party call");
    assert_eq!(tp.method, "POST");
    assert_eq!(
        tp.header("authorization"),
        Some(format!("Bearer {PK}").as_str())
    );
    assert_eq!(tp.header("x-request-id"), Some("rid-42"));
    assert_eq!(tp.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&tp.body).expect("json");
    assert_eq!(
        body,
        json!({"provider": "firebase", "token": "third-token", "tokenType": "idToken"})
    );
    assert!(
        seen.iter()
            .any(|r| r.target == format!("/iam/v1/{PK}/jwks.json"))
    );
    let gs = seen
        .iter()
        .find(|r| r.target == "/iam/v2/auth/get-session")
        .expect("get-session");
    assert_eq!(gs.header("x-project-key"), Some(PK));
    assert_eq!(gs.header("authorization"), Some("Bearer opaque-token"));
    // The third-party user owns the share.
    let got = ok(
        &user(
            &h,
            &po,
            "openfort",
            "third-token",
            "GET",
            "/shares",
            &[
                ("X-Openfort-Provider", "firebase"),
                ("X-Openfort-Token-Type", "idToken"),
            ],
            None,
        ),
        200,
    );
    assert_eq!(got["secret"], "user-secret");
}

// docs/shield.md, "Design: shares on the wire", "Design: share routes" user entropy, checklist 12, 13, 14, 20, 21, 22, 23
#[test]
fn user_shares_round_trip_and_rules() {
    let h = main_host();
    let p = register(&h, false);
    let pid = pem_provider(&h, &p, &rsa(), "rsa");
    let t = tok(&rsa(), "carol");
    ok(
        &cu(&h, &p, &t, "POST", "/shares", &[], Some(user_share(None))),
        201,
    );
    let got = ok(&cu(&h, &p, &t, "GET", "/shares", &[], None), 200);
    assert_eq!(got["secret"], "user-secret");
    assert_eq!(
        (
            got["salt"].as_str(),
            got["iterations"].as_i64(),
            got["length"].as_i64(),
            got["digest"].as_str()
        ),
        (Some("salt"), Some(1000), Some(32), Some("SHA-256"))
    );
    assert_eq!(got["reference"], "default");
    assert!(got["keychain_id"].is_string());
    assert!(got.get("storage_method_id").is_none());
    assert!(got.get("encryption_part").is_none());
    assert_eq!(
        ok(&cu(&h, &p, &t, "GET", "/shares/encryption", &[], None), 200),
        json!({"entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"})
    );
    // Validator: a sample of messages (all of them are in the native tests) and entropy none.
    for (body, msg) in [
        (json!({"entropy": "user"}), "secret is required"),
        (
            json!({"secret": "x", "entropy": "none"}),
            "require share entropy to be set",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s"}),
            "iterations is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "storage_method_id": 3}),
            "invalid storage method",
        ),
        (
            json!({"secret": "x", "entropy": "project"}),
            "encryption_part or encryption_session is required when entropy is project",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "default", "passkey_reference": {"passkey_id": "p"}}),
            "share needs a valid share reference if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "bogus"}),
            "invalid entropy",
        ),
    ] {
        err(
            &cu(&h, &p, &t, "POST", "/shares", &[], Some(body)),
            400,
            "BAD_REQUEST",
            msg,
        );
    }
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(json!({"secret": "x", "entropy": "user", "iterations": "1000"})),
        ),
        400,
        "BAD_REQUEST",
        "failed to parse request body",
    );
    // Duplicates (checklist 14).
    err(
        &cu(&h, &p, &t, "POST", "/shares", &[], Some(user_share(None))),
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(user_share(Some("wallet-2"))),
        ),
        201,
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(user_share(Some("wallet-2"))),
        ),
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    let dan = tok(&rsa(), "dan");
    err(
        &cu(
            &h,
            &p,
            &dan,
            "POST",
            "/shares",
            &[],
            Some(user_share(Some("wallet-2"))),
        ),
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    let q = register(&h, false);
    pem_provider(&h, &q, &rsa(), "rsa");
    ok(
        &cu(
            &h,
            &q,
            &t,
            "POST",
            "/shares",
            &[],
            Some(user_share(Some("wallet-2"))),
        ),
        201,
    );
    err(
        &cu(&h, &q, &t, "GET", "/shares/wallet-3", &[], None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    // Keychain (checklist 23).
    let kc = ok(&cu(&h, &p, &t, "GET", "/keychain", &[], None), 200);
    let refs: Vec<&str> = kc["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["default", "wallet-2"]);
    assert_eq!(
        ok(
            &cu(&h, &p, &t, "GET", "/keychain?reference=wallet-2", &[], None),
            200
        )["shares"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    err(
        &cu(&h, &p, &t, "GET", "/keychain?reference=none", &[], None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    assert_eq!(
        ok(&cu(&h, &p, &dan, "GET", "/keychain", &[], None), 200),
        json!({"shares": []})
    );
    // By reference across the project's providers (checklist 22): same external id via JWKS provider.
    let q2 = register(&h, false);
    ok(
        &ps(
            &h,
            &q2,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"custom": {"pem": rsa().public_pem(), "key_type": "rsa"}, "openfort": {"publishable_key": PK}}}),
            ),
        ),
        200,
    );
    ok(
        &user(
            &h,
            &q2,
            "openfort",
            "same",
            "POST",
            "/shares",
            &[
                ("X-Openfort-Provider", "p"),
                ("X-Openfort-Token-Type", "idToken"),
            ],
            Some(user_share(Some("cross"))),
        ),
        201,
    );
    let cross = ok(
        &cu(
            &h,
            &q2,
            &tok(&rsa(), "tp-same"),
            "GET",
            "/shares/cross",
            &[],
            None,
        ),
        200,
    );
    assert_eq!(cross["reference"], "cross");
    err(
        &cu(
            &h,
            &q2,
            &tok(&rsa(), "someone"),
            "GET",
            "/shares/cross",
            &[],
            None,
        ),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    err(
        &cu(
            &h,
            &q,
            &tok(&rsa(), "tp-same"),
            "GET",
            "/shares/cross",
            &[],
            None,
        ),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    // A share referenced "encryption" via the keychain; GET /shares/encryption stays the entropy route.
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(user_share(Some("encryption"))),
        ),
        201,
    );
    assert_eq!(
        ok(
            &cu(
                &h,
                &p,
                &t,
                "GET",
                "/keychain?reference=encryption",
                &[],
                None
            ),
            200
        )["shares"][0]["reference"],
        "encryption"
    );
    // PUT (checklist 20).
    let upd = json!({"secret": "updated", "entropy": "user", "salt": "s2", "iterations": 7, "length": 16, "digest": "d", "reference": "", "keychain_id": ""});
    assert_eq!(
        ok(
            &cu(&h, &p, &t, "PUT", "/shares", &[], Some(upd.clone())),
            200
        ),
        json!({"secret": "updated", "entropy": "user", "salt": "s2", "iterations": 7, "length": 16, "digest": "d"})
    );
    assert_eq!(
        ok(&cu(&h, &p, &t, "GET", "/shares", &[], None), 200)["secret"],
        "updated"
    );
    let mut missing = upd;
    missing["reference"] = "missing".into();
    err(
        &cu(&h, &p, &t, "PUT", "/shares", &[], Some(missing)),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    // DELETE (checklist 21).
    let d = cu(&h, &p, &t, "DELETE", "/shares", &[], None);
    assert_eq!(d.status, 204);
    assert_eq!(d.header("content-type"), Some("application/json"));
    err(
        &cu(&h, &p, &t, "GET", "/shares", &[], None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    err(
        &cu(&h, &p, &t, "DELETE", "/shares", &[], None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    assert_eq!(
        cu(&h, &p, &t, "DELETE", "/shares/wallet-2", &[], None).status,
        204
    );
    err(
        &cu(&h, &p, &t, "DELETE", "/shares/wallet-2", &[], None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    let _ = pid;
}

// docs/shield.md, "Design: the project key", "Design: encryption sessions": project entropy, wrong parts, sessions (checklist 15, 16, 18, 19, 23, 28)
#[test]
fn project_entropy_wrong_parts_and_sessions() {
    let h = main_host();
    let p = register(&h, false);
    pem_provider(&h, &p, &rsa(), "rsa");
    let t = tok(&rsa(), "erin");
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("a", Some(WRONG_PART), None)),
        ),
        409,
        "EC_MISSING",
        "Encryption not configured",
    );
    let part = ok(&ps(&h, &p, "POST", "/project/encryption-key", None), 200)["encryption_part"]
        .as_str()
        .unwrap()
        .to_owned();
    err(
        &ps(&h, &p, "POST", "/project/encryption-key", None),
        409,
        "EC_EXISTS",
        "Encryption part already exists",
    );
    // Wrong-but-well-formed and malformed parts: 400 EC_INVALID, nothing written.
    let raw = unb64(&part);
    let mut x1 = raw.clone();
    x1[0] = 1;
    let bad_parts = [
        WRONG_PART.to_owned(),
        "not base64!".to_owned(),
        b64(&raw[..31]),
        b64(&[raw.as_slice(), &[7]].concat()),
        b64(&x1),
    ];
    let before = share_count(&h, &p.id);
    for bad in &bad_parts {
        err(
            &cu(
                &h,
                &p,
                &t,
                "POST",
                "/shares",
                &[],
                Some(project_share("a", Some(bad), None)),
            ),
            400,
            "EC_INVALID",
            "Invalid encryption part",
        );
        err(
            &ps(
                &h,
                &p,
                "POST",
                "/project/encryption-session",
                Some(json!({"encryption_part": bad})),
            ),
            400,
            "EC_INVALID",
            "Invalid encryption part",
        );
        err(
            &ps(
                &h,
                &p,
                "POST",
                "/project/encrypt",
                Some(json!({"encryption_part": bad})),
            ),
            400,
            "EC_INVALID",
            "Invalid encryption part",
        );
    }
    assert_eq!(share_count(&h, &p.id), before, "nothing written");
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", Some(&part), None)),
        ),
        201,
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "PUT",
            "/shares",
            &[],
            Some(project_share("default", Some(WRONG_PART), None)),
        ),
        400,
        "EC_INVALID",
        "Invalid encryption part",
    );
    err(
        &cu(&h, &p, &t, "GET", "/shares", &[], None),
        409,
        "EC_MISSING",
        "The requested share have project entropy and encryption part is required",
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares",
            &[("X-Encryption-Part", WRONG_PART)],
            None,
        ),
        400,
        "EC_INVALID",
        "Invalid encryption part",
    );
    assert_eq!(
        ok(
            &cu(
                &h,
                &p,
                &t,
                "GET",
                "/shares",
                &[("X-Encryption-Part", &part)],
                None
            ),
            200
        )["secret"],
        "secret-default"
    );
    // Legacy 32-byte part (checklist 18).
    let legacy = b64(&raw[1..]);
    assert_eq!(
        ok(
            &cu(
                &h,
                &p,
                &t,
                "GET",
                "/shares",
                &[("X-Encryption-Part", &legacy)],
                None
            ),
            200
        )["secret"],
        "secret-default"
    );
    // Sessions: single use; a 409 leaves it usable; other project → 400; several shares on one.
    let s = session(&h, &p, &part);
    assert_eq!(s.len(), 36);
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", None, Some(&s))),
        ),
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("p2", None, Some(&s))),
        ),
        201,
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("p3", None, Some(&s))),
        ),
        400,
        "EC_INVALID",
        "Invalid encryption session",
    );
    let s2 = session(&h, &p, &part);
    let kc = ok(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/keychain",
            &[("X-Encryption-Session", &s2)],
            None,
        ),
        200,
    );
    let secrets: Vec<&str> = kc["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["secret"].as_str().unwrap())
        .collect();
    assert_eq!(secrets, ["secret-default", "secret-p2"]);
    err(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares/p2",
            &[("X-Encryption-Session", &s2)],
            None,
        ),
        400,
        "EC_INVALID",
        "Invalid encryption session",
    );
    let q = register(&h, true);
    pem_provider(&h, &q, &rsa(), "rsa");
    let s3 = session(&h, &p, &part);
    err(
        &cu(
            &h,
            &q,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("q1", None, Some(&s3))),
        ),
        400,
        "EC_INVALID",
        "Invalid encryption session",
    );
    assert_eq!(
        ok(
            &cu(
                &h,
                &p,
                &t,
                "GET",
                "/shares/p2",
                &[("X-Encryption-Session", &s3)],
                None
            ),
            200
        )["secret"],
        "secret-p2"
    );
    // A 404 leaves a session usable too.
    let s4 = session(&h, &p, &part);
    err(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares/nope",
            &[("X-Encryption-Session", &s4)],
            None,
        ),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    ok(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares/p2",
            &[("X-Encryption-Session", &s4)],
            None,
        ),
        200,
    );
}

// Checklist 19: a session used by 20 racing requests succeeds once.
#[test]
fn racing_session_succeeds_once() {
    let h = main_host();
    let p = register(&h, true);
    pem_provider(&h, &p, &rsa(), "rsa");
    let part = p.part.clone().unwrap();
    let t = tok(&rsa(), "racer");
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", Some(&part), None)),
        ),
        201,
    );
    let s = session(&h, &p, &part);
    let barrier = Arc::new(Barrier::new(20));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (h, p, t, s, barrier) = (&h, &p, &t, &s, barrier.clone());
                scope.spawn(move || {
                    barrier.wait();
                    cu(
                        h,
                        p,
                        t,
                        "GET",
                        "/shares",
                        &[("X-Encryption-Session", s)],
                        None,
                    )
                    .status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
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

// Checklist 32 (e2e half): racing duplicate inserts leave one row and 409s.
#[test]
fn racing_duplicate_inserts() {
    let h = main_host();
    let p = register(&h, false);
    pem_provider(&h, &p, &rsa(), "rsa");
    let t = tok(&rsa(), "dup");
    let barrier = Arc::new(Barrier::new(10));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let (h, p, t, barrier) = (&h, &p, &t, barrier.clone());
                scope.spawn(move || {
                    barrier.wait();
                    cu(h, p, t, "POST", "/shares", &[], Some(user_share(None))).status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        ok(&cu(&h, &p, &t, "GET", "/keychain", &[], None), 200)["shares"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

// Checklist 19: sessions expire after 5 minutes (clock-dependent: checked natively) and are shared
// by two instances on one database.
#[test]
fn sessions_shared_between_instances() {
    let a = builder().start();
    let b = builder().state_dir(&a.state_dir).start();
    let p = register(&a, true);
    pem_provider(&a, &p, &rsa(), "rsa");
    let part = p.part.clone().unwrap();
    let t = tok(&rsa(), "two");
    ok(
        &cu(
            &a,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", Some(&part), None)),
        ),
        201,
    );
    let s = session(&a, &p, &part);
    assert_eq!(
        ok(
            &cu(
                &b,
                &p,
                &t,
                "GET",
                "/shares",
                &[("X-Encryption-Session", &s)],
                None
            ),
            200
        )["secret"],
        "secret-default"
    );
    err(
        &cu(
            &a,
            &p,
            &t,
            "GET",
            "/shares",
            &[("X-Encryption-Session", &s)],
            None,
        ),
        400,
        "EC_INVALID",
        "Invalid encryption session",
    );
}

// Checklist 17: a legacy key without KCV accepts a wrong part; reads with the right part → 500.
#[test]
fn legacy_key_without_kcv() {
    let h = main_host();
    let p = register(&h, true);
    pem_provider(&h, &p, &rsa(), "rsa");
    let part = p.part.clone().unwrap();
    db(&h).execute(
        "UPDATE encryption_keys SET key_check = NULL WHERE project_id = ?1",
        &[(&p.id).into()],
    );
    let t = tok(&rsa(), "legacy");
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", Some(WRONG_PART), None)),
        ),
        201,
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares",
            &[("X-Encryption-Part", &part)],
            None,
        ),
        500,
        "INTERNAL",
        "Internal error",
    );
}

// docs/shield.md, "Design: bulk lookups and migration", /project/encrypt (checklist 26, 28)
#[test]
fn migration_and_encrypt() {
    let h = main_host();
    let p = register(&h, false);
    let pid = pem_provider(&h, &p, &rsa(), "rsa");
    let uid = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/user",
            Some(json!({"external_user_id": "mig", "provider_id": pid})),
        ),
        201,
    )["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/migration/import",
            Some(json!({"user_id": uid, "secret": "plain-1"})),
        ),
        201,
    );
    ok(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/migration/import",
            Some(
                json!({"user_id": uid, "secret": "plain-2", "reference": "r2", "storage_method_id": 1}),
            ),
        ),
        201,
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/migration/import",
            Some(json!({"user_id": uid, "secret": "x", "reference": "r2"})),
        ),
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    let q = register(&h, false);
    err(
        &ps(
            &h,
            &q,
            "POST",
            "/shares/migration/import",
            Some(json!({"user_id": uid, "secret": "x"})),
        ),
        404,
        "US_NOT_FOUND",
        "User not found",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/migration/import",
            Some(json!({"user_id": uid, "secret": ""})),
        ),
        400,
        "BAD_REQUEST",
        "secret is required",
    );
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/migration/import",
            Some(json!({"user_id": uid, "secret": "x", "entropy": "zz"})),
        ),
        400,
        "BAD_REQUEST",
        "invalid entropy",
    );
    let ex = ok(&ps(&h, &p, "GET", "/shares/migration/export/r2", None), 200);
    assert_eq!(
        ex,
        json!({"secret": "plain-2", "entropy": "none", "reference": "r2", "storage_method_id": 1})
    );
    err(
        &ps(&h, &p, "GET", "/shares/migration/export/default", None),
        400,
        "BAD_REQUEST",
        "reference must not be default",
    );
    err(
        &ps(&h, &q, "GET", "/shares/migration/export/r2", None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    // /project/encrypt converts every `none` share, all or nothing.
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/encrypt",
            Some(json!({"encryption_part": WRONG_PART})),
        ),
        409,
        "EC_MISSING",
        "Encryption not configured",
    );
    let part = ok(&ps(&h, &p, "POST", "/project/encryption-key", None), 200)["encryption_part"]
        .as_str()
        .unwrap()
        .to_owned();
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/project/encrypt",
            Some(json!({"encryption_part": WRONG_PART})),
        ),
        400,
        "EC_INVALID",
        "Invalid encryption part",
    );
    assert_eq!(
        ok(&ps(&h, &p, "GET", "/shares/migration/export/r2", None), 200)["entropy"],
        "none"
    );
    let r = ps(
        &h,
        &p,
        "POST",
        "/project/encrypt",
        Some(json!({"encryption_part": part})),
    );
    assert_eq!((r.status, r.body.len()), (200, 0));
    err(
        &ps(&h, &p, "GET", "/shares/migration/export/r2", None),
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    let t = tok(&rsa(), "mig");
    let kc = ok(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/keychain",
            &[("X-Encryption-Part", &part)],
            None,
        ),
        200,
    );
    let got: Vec<(&str, &str)> = kc["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["entropy"].as_str().unwrap(),
                s["secret"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("project", "plain-1"), ("project", "plain-2")]);
}

// docs/shield.md, "Design: bulk lookups and migration", passkeys, preregistration (checklist 24, 25, 27)
#[test]
fn passkeys_bulk_and_preregister() {
    let h = main_host();
    let p = register(&h, false);
    pem_provider(&h, &p, &rsa(), "rsa");
    let t = tok(&rsa(), "pat");
    let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
    let pk = json!({"secret": "pk-secret", "entropy": "passkey", "reference": "pk-ref", "passkey_reference": {"passkey_id": "cred-1", "passkey_env": "{\"name\":\"x\"}"}});
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(
                json!({"secret": "x", "entropy": "passkey", "reference": "default", "passkey_reference": {"passkey_id": "c"}}),
            ),
        ),
        400,
        "BAD_REQUEST",
        "share needs a valid share reference if entropy is passkey",
    );
    err(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[("User-Agent", ua), ("User-Agent", ua)],
            Some(pk.clone()),
        ),
        400,
        "BAD_REQUEST",
        "header User-Agent needs to be defined exactly once",
    );
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[("User-Agent", ua)],
            Some(pk),
        ),
        201,
    );
    let got = ok(&cu(&h, &p, &t, "GET", "/shares/pk-ref", &[], None), 200);
    assert_eq!(
        got["passkey_reference"],
        json!({"passkey_id": "cred-1", "PasskeyEnv": {"name": "Chrome", "os": "macOS", "osVersion": "10.15.7", "device": "Desktop"}})
    );
    ok(
        &cu(&h, &p, &t, "POST", "/shares", &[], Some(user_share(None))),
        201,
    );
    // Bulk by reference.
    let many: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/encryption/reference/bulk",
            Some(json!({"references": many})),
        ),
        400,
        "BAD_REQUEST",
        "Requests with more than 100 elements are not allowed",
    );
    let b = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/encryption/reference/bulk",
            Some(json!({"references": ["pk-ref", "default", "missing"]})),
        ),
        200,
    );
    assert_eq!(
        b["encryption_types"]["pk-ref"],
        json!({"status": "found", "encryption_type": "passkey", "passkey_id": "cred-1", "passkey_env": {"name": "Chrome", "os": "macOS", "osVersion": "10.15.7", "device": "Desktop"}})
    );
    assert_eq!(
        b["encryption_types"]["default"],
        json!({"status": "not-found"})
    );
    assert_eq!(
        b["encryption_types"]["missing"],
        json!({"status": "not-found"})
    );
    let q = register(&h, false);
    assert_eq!(
        ok(
            &ps(
                &h,
                &q,
                "POST",
                "/shares/encryption/reference/bulk",
                Some(json!({"references": ["pk-ref"]}))
            ),
            200
        )["encryption_types"]["pk-ref"]["status"],
        "not-found"
    );
    // Bulk by user.
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    err(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/encryption/user/bulk",
            Some(json!({"user_ids": many})),
        ),
        400,
        "BAD_REQUEST",
        "Requests with more than 100 elements are not allowed",
    );
    let b = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/encryption/user/bulk",
            Some(json!({"user_ids": ["pat", "nobody"]})),
        ),
        200,
    );
    assert_eq!(
        b["encryption_types"]["pat"],
        json!({"status": "found", "encryption_type": "user"})
    );
    assert_eq!(
        b["encryption_types"]["nobody"],
        json!({"status": "not-found"})
    );
    let b = ok(
        &ps(
            &h,
            &p,
            "POST",
            "/shares/encryption/user/bulk",
            Some(json!({"user_ids": ["pat"], "reference": "pk-ref"})),
        ),
        200,
    );
    assert_eq!(b["encryption_types"]["pat"]["passkey_id"], "cred-1");
    // Preregistration.
    let pre = |extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("X-API-Key", p.key.as_str()),
            ("X-API-Secret", p.secret.as_str()),
        ];
        headers.extend_from_slice(extra);
        h.req(
            "POST",
            "/admin/preregister",
            &headers,
            Some(user_share(None).to_string().as_bytes()),
        )
    };
    err(
        &pre(&[("X-Auth-Provider", "custom")]),
        400,
        "US_ID_MISSING",
        "Missing user ID",
    );
    err(
        &pre(&[("X-User-ID", "quinn")]),
        401,
        "A_MISSING",
        "Missing auth provider",
    );
    err(
        &pre(&[("X-User-ID", "quinn"), ("X-Auth-Provider", "openfort")]),
        401,
        "A_INVALID",
        "Invalid auth provider",
    );
    ok(
        &pre(&[("X-User-ID", "quinn"), ("X-Auth-Provider", "custom")]),
        201,
    );
    assert_eq!(
        ok(
            &cu(&h, &p, &tok(&rsa(), "quinn"), "GET", "/shares", &[], None),
            200
        )["secret"],
        "user-secret"
    );
}

// docs/shield.md, "Design: rate limit", checklist 29
#[test]
fn rate_limit_per_project() {
    let h = builder()
        .env("SPIN_VARIABLE_RATE_LIMIT_REQUESTS", "4")
        .env("SPIN_VARIABLE_RATE_LIMIT_WINDOW_MS", "3600000")
        .start();
    let p = register(&h, false);
    let q = register(&h, false);
    for _ in 0..4 {
        ok(&ps(&h, &p, "GET", "/project", None), 200);
    }
    let r = ps(&h, &p, "GET", "/project", None);
    err(&r, 429, "RATE_LIMITED", "Rate limit exceeded");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry));
    ok(&ps(&h, &q, "GET", "/project", None), 200);
    for _ in 0..10 {
        ok(&h.get("/healthz"), 200);
    }
}

// Database down → 503 (checklist 30): the health component on a manifest whose shield database
// is not granted answers 503 with "unhealthy" in both places.
#[test]
fn healthz_unhealthy() {
    let manifest = product_manifest().replace(
        "[component.shield-health]\nsource",
        "[component.shield-health]\nsqlite_databases = []\nsource",
    );
    let manifest = manifest.replacen(
        "sqlite_databases = [\"shield\"]\n[component.shield-health.build]",
        "[component.shield-health.build]",
        1,
    );
    let h = HostBuilder::new(manifest)
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_OPENFORT_BASE_URL", &stub_base())
        .env("SPIN_VARIABLE_SHIELD_JWKS_HOSTS", &stub_base())
        .start();
    let r = h.get("/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    let j = r.json();
    assert_eq!(j["status"], "unhealthy");
    assert_eq!(
        j["checks"],
        json!([{"name": "database", "status": "unhealthy"}])
    );
    let _ = Path::new("");
}

// ---------------------------------------------------------------------------------------------
// Checklist 31: the official client. `@openfort/shield-js` 0.1.37 is installed into a temporary
// directory at test time (never copied into the repository) and drives every client method
// through `tests/npm/shield-client.mjs`.

#[test]
fn npm_shield_js_client_interoperates() {
    let prefix = keyward_e2e::npm_install("@openfort/shield-js@0.1.37");
    let h = main_host();
    let p = register(&h, true);
    pem_provider(&h, &p, &rsa(), "rsa");
    let part = p.part.clone().expect("part");
    let sessions: Vec<String> = (0..3).map(|_| session(&h, &p, &part)).collect();
    let script = keyward_e2e::repo_root().join("tests/npm/shield-client.mjs");
    let out = keyward_e2e::node_tool("node")
        .arg(&script)
        .env("KEYWARD_URL", &h.base)
        .env("SHIELD_API_KEY", &p.key)
        .env("SHIELD_API_SECRET", &p.secret)
        .env("SHIELD_PART", &part)
        .env("SHIELD_SESSIONS", sessions.join(","))
        .env("SHIELD_TOKEN_A", tok(&rsa(), "js-a"))
        .env("SHIELD_TOKEN_PRE", tok(&rsa(), "js-pre"))
        .env("SHIELD_JS_PREFIX", prefix.path())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {} failed:\n{stdout}{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["ok"], true, "{stdout}");
    assert_eq!(
        summary["steps"].as_array().map(Vec::len),
        Some(17),
        "{stdout}"
    );
}

// docs/shield.md, "Design: identity providers": outbound calls time out after 10 s; the request then fails as 401 `Invalid token`
// (well inside the host's own 30 s request deadline).
#[test]
fn identity_provider_timeout() {
    let slow = Stub::start(|_| {
        std::thread::sleep(std::time::Duration::from_secs(20));
        (200, "application/json", b"{}".to_vec())
    });
    let slow_base = format!("http://127.0.0.1:{}", slow.port);
    let h = builder()
        .env("SPIN_VARIABLE_SHIELD_JWKS_HOSTS", &slow_base)
        .start();
    let p = register(&h, false);
    ok(
        &ps(
            &h,
            &p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"custom": {"jwk": format!("{slow_base}/jwks.json")}}})),
        ),
        200,
    );
    let started = std::time::Instant::now();
    let r = cu(&h, &p, &tok(&es(), "slow"), "GET", "/keychain", &[], None);
    let elapsed = started.elapsed();
    err(&r, 401, "A_INVALID", "Invalid token");
    assert!(
        elapsed >= std::time::Duration::from_secs(9)
            && elapsed < std::time::Duration::from_secs(19),
        "{elapsed:?}"
    );
}

// Checklist 19: a session lives 5 minutes; one past its expiry (moved back in the database) is
// refused and not consumed by anyone.
#[test]
fn expired_session_is_refused() {
    let h = main_host();
    let p = register(&h, true);
    pem_provider(&h, &p, &rsa(), "rsa");
    let part = p.part.clone().expect("part");
    let t = tok(&rsa(), "late");
    ok(
        &cu(
            &h,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(project_share("default", Some(&part), None)),
        ),
        201,
    );
    let s = session(&h, &p, &part);
    let mut db = db(&h);
    let created = db.int(
        "SELECT created_at FROM encryption_sessions WHERE id = ?1",
        &[(&s).into()],
    );
    let expires = db.int(
        "SELECT expires_at FROM encryption_sessions WHERE id = ?1",
        &[(&s).into()],
    );
    assert_eq!(expires - created, 5 * 60 * 1000);
    let changed = db.execute(
        "UPDATE encryption_sessions SET expires_at = ?1 WHERE id = ?2",
        &[(created - 1).into(), (&s).into()],
    );
    assert_eq!(changed, 1);
    err(
        &cu(
            &h,
            &p,
            &t,
            "GET",
            "/shares",
            &[("X-Encryption-Session", &s)],
            None,
        ),
        400,
        "EC_INVALID",
        "Invalid encryption session",
    );
}
