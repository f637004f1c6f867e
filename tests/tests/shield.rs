//! shield end to end (docs/shield.md, "Conformance checklist"): the real `spin.toml` and
//! components, served by `keyward serve` on 127.0.0.1, spoken to over HTTP as shield-js and a
//! project backend would. The test kit's shield scenarios (written once, also run natively by
//! shield-service) run here against one shared host; what only a running host can show follows:
//! a local stub standing in for Openfort (third-party, JWKS, get-session) and for CUSTOM JWKS
//! endpoints, other variables, a second instance, the official client.
//!
//! Tokens are signed with jwt-verify's fixed test keys (RS256, ES256, EdDSA).

use std::sync::{Arc, Mutex, Weak};

use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, hs256_token, public_pem_of, sign_as};
use keyward_e2e::shield::{PK, builder, ed, es, rsa, stub, stub_base};
use keyward_e2e::{Host, HostBuilder, Stub, TEST_MASTER_KEY, Value, json, product_manifest};
use keyward_test_kit::Driver;
use keyward_test_kit::scenarios::shield::{
    self as scenarios, Done as _, Keys, Project, project_share, refused, register, token,
    user_share,
};

/// The host most tests share; they isolate themselves by project.
fn main_host() -> Arc<Host> {
    static SHARED: Mutex<Weak<Host>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = slot.upgrade() {
        return host;
    }
    install_keys();
    let host = Arc::new(builder().start());
    *slot = Arc::downgrade(&host);
    host
}

keyward_test_kit::shield_scenario_tests!(main_host());

/// jwt-verify's test keys for the kit's clients and scenarios.
fn install_keys() {
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: hs256_token,
    });
}

const INVALID_TOKEN: (u16, &str, &str) = (401, "A_INVALID", "Invalid token");

/// A JWT for `sub` from `signer`, valid for ten minutes.
fn tok(d: &dyn Driver, signer: &TestSigner, sub: &str) -> String {
    signer.sign(&json!({"sub": sub, "exp": d.now_secs() + 600}))
}

/// A new project with `providers` configured.
#[track_caller]
fn project_with(d: &dyn Driver, providers: Value) -> Project<'_> {
    let p = register(d, false);
    p.post("/project/providers", &json!({ "providers": providers }))
        .done(200);
    p
}

// docs/shield.md, "Design: authentication", checklist 5
#[test]
fn register_token() {
    let h = builder()
        .env("SPIN_VARIABLE_REGISTER_TOKEN", "operator-token")
        .start();
    for (token, status, code, message) in [
        (None, 401, "A_MISSING", "Missing operator token"),
        (Some("wrong"), 401, "A_INVALID", "Invalid operator token"),
    ] {
        let headers: Vec<_> = token.map(|t| ("X-Operator-Token", t)).into_iter().collect();
        let r = h.req("POST", "/register", &headers, Some(b"{}"));
        r.assert_error_message(status, code, message);
    }
    let headers = [("X-Operator-Token", "operator-token")];
    h.req("POST", "/register", &headers, Some(b"{}")).done(201);
}

// docs/shield.md, "Design: identity providers", checklist 8, 9: CUSTOM providers in JWKS mode
// (keys by kid) and Openfort (third party, JWT via its JWKS, opaque session), as the stub sees them.
#[test]
fn jwks_and_openfort_identity_providers() {
    let h = main_host();
    let d: &dyn Driver = &*h;
    // JWKS mode: the first request of a user creates it; RS256, ES256 and EdDSA keys by kid.
    let pr = project_with(
        d,
        json!({"custom": {"jwk": format!("{}/jwks/rsa.json", stub_base())}}),
    );
    let alice = tok(d, &rsa(), "alice");
    assert_eq!(
        pr.custom(&alice).get("/keychain").done(200),
        json!({"shares": []})
    );
    let pj = project_with(
        d,
        json!({"custom": {"jwk": format!("{}/jwks/ed.json", stub_base())}}),
    );
    pj.custom(&tok(d, &ed(), "j1")).get("/keychain").done(200);
    pj.custom(&tok(d, &es(), "j2")).get("/keychain").done(200);
    let unknown_kid = TestSigner::new(Algorithm::ES256, "unknown-kid").sign(&json!({"sub": "x"}));
    refused(&pj.custom(&unknown_kid).get("/keychain"), INVALID_TOKEN);
    // Openfort.
    let po = project_with(d, json!({"openfort": {"publishable_key": PK}}));
    let third_party = [
        ("X-Openfort-Provider", "firebase"),
        ("X-Openfort-Token-Type", "idToken"),
    ];
    let before = stub().requests().len();
    po.by("openfort", "third-token")
        .headers(&third_party)
        .headers(&[("X-Request-ID", "rid-42")])
        .post("/shares", &user_share(None))
        .done(201);
    let of_jwt = tok(d, &es(), "of-jwt-user");
    po.by("openfort", &of_jwt).get("/keychain").done(200);
    po.by("openfort", "opaque-token").get("/keychain").done(200);
    refused(
        &po.by("openfort", "expired").get("/keychain"),
        INVALID_TOKEN,
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
    let jwks = format!("/iam/v1/{PK}/jwks.json");
    assert!(seen.iter().any(|r| r.target == jwks));
    let gs = seen
        .iter()
        .find(|r| r.target == "/iam/v2/auth/get-session")
        .expect("get-session");
    assert_eq!(gs.header("x-project-key"), Some(PK));
    assert_eq!(gs.header("authorization"), Some("Bearer opaque-token"));
    // The third-party user owns the share.
    let owner = po.by("openfort", "third-token").headers(&third_party);
    assert_eq!(owner.get("/shares").done(200)["secret"], "user-secret");
}

// docs/shield.md, "Design: share routes", checklist 22: a share by reference is found across
// the project's providers for the same external id (Openfort's third party names it `tp-same`).
#[test]
fn shares_by_reference_across_providers() {
    let h = main_host();
    let d: &dyn Driver = &*h;
    let p = project_with(
        d,
        json!({"custom": {"pem": rsa().public_pem(), "key_type": "rsa"}, "openfort": {"publishable_key": PK}}),
    );
    let third_party = [
        ("X-Openfort-Provider", "p"),
        ("X-Openfort-Token-Type", "idToken"),
    ];
    p.by("openfort", "same")
        .headers(&third_party)
        .post("/shares", &user_share(Some("cross")))
        .done(201);
    let cross = p.custom(&tok(d, &rsa(), "tp-same")).get("/shares/cross");
    assert_eq!(cross.done(200)["reference"], "cross");
    let not_found = (404, "SH_NOT_FOUND", "Share not found");
    refused(
        &p.custom(&tok(d, &rsa(), "someone")).get("/shares/cross"),
        not_found,
    );
    let q = register(d, false);
    q.pem_provider("RS256", "");
    refused(
        &q.custom(&tok(d, &rsa(), "tp-same")).get("/shares/cross"),
        not_found,
    );
}

// Checklist 19: sessions are shared by two instances on one database.
#[test]
fn sessions_shared_between_instances() {
    let a = builder().start();
    let b = builder().state_dir(&a.state_dir).start();
    install_keys();
    let p = register(&a, true);
    p.pem_provider("RS256", "");
    let part = p.part.clone().expect("part");
    let t = token(&a, "RS256", "two");
    let user = p.custom(&t);
    user.post("/shares", &project_share("default", Some(&part), None))
        .done(201);
    let s = p.session(&part);
    let on_b = p.on(&b);
    let read = |p: &Project| {
        p.custom(&t)
            .headers(&[("X-Encryption-Session", &s)])
            .get("/shares")
    };
    assert_eq!(read(&on_b).done(200)["secret"], "secret-default");
    refused(&read(&p), (400, "EC_INVALID", "Invalid encryption session"));
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
        p.get("/project").done(200);
    }
    let r = p.get("/project");
    r.assert_error_message(429, "RATE_LIMITED", "Rate limit exceeded");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry));
    q.get("/project").done(200);
    for _ in 0..10 {
        h.get("/healthz").done(200);
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
    let (j, unhealthy) = (r.json(), json!("unhealthy"));
    let checks = json!([{"name": "database", "status": "unhealthy"}]);
    assert_eq!((&j["status"], &j["checks"]), (&unhealthy, &checks));
}

// ---------------------------------------------------------------------------------------------
// Checklist 31: the official client. `@openfort/shield-js` 0.1.37 is installed into a temporary
// directory at test time (never copied into the repository) and drives every client method
// through `tests/npm/shield-client.mjs`.

#[test]
fn npm_shield_js_client_interoperates() {
    let prefix = keyward_e2e::npm_install("@openfort/shield-js@0.1.37");
    let h = main_host();
    let p = register(&*h, true);
    p.pem_provider("RS256", "");
    let part = p.part.clone().expect("part");
    let sessions: Vec<String> = (0..3).map(|_| p.session(&part)).collect();
    let sessions = sessions.join(",");
    let (token_a, token_pre) = (token(&*h, "RS256", "js-a"), token(&*h, "RS256", "js-pre"));
    let prefix = prefix.path().to_string_lossy();
    keyward_e2e::run_npm_client(
        "shield-client.mjs",
        &[
            ("KEYWARD_URL", &h.base),
            ("SHIELD_API_KEY", &p.key),
            ("SHIELD_API_SECRET", &p.secret),
            ("SHIELD_PART", &part),
            ("SHIELD_SESSIONS", &sessions),
            ("SHIELD_TOKEN_A", &token_a),
            ("SHIELD_TOKEN_PRE", &token_pre),
            ("SHIELD_JS_PREFIX", &prefix),
        ],
        17,
    );
}

// docs/shield.md, "Design: identity providers": outbound calls time out after 10 s; the request
// then fails as 401 `Invalid token` (well inside the host's own 30 s request deadline).
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
    let p = project_with(
        &h,
        json!({"custom": {"jwk": format!("{slow_base}/jwks.json")}}),
    );
    let started = std::time::Instant::now();
    let r = p.custom(&tok(&h, &es(), "slow")).get("/keychain");
    let elapsed = started.elapsed();
    refused(&r, INVALID_TOKEN);
    assert!(
        elapsed >= std::time::Duration::from_secs(9)
            && elapsed < std::time::Duration::from_secs(19),
        "{elapsed:?}"
    );
}
