//! The audit trail as shield writes it (docs/OPERATIONS.md, "Audit trail"), on a real SQLite
//! file: one record per request that names an action, in the request's transaction.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use std::sync::mpsc;
use std::time::Duration;

use audit_chain::Record;
use common::*;
use guest_kit::{Db, OutboundResponse, Request};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use serde_json::{Value, json};

/// The address the "host" reports for every request of these tests.
const PEER: &str = "203.0.113.7:5555";
const OPERATOR_TOKEN: &str = "operator-token-for-the-audit-test";

/// Every record, in order, with its link.
fn records(h: &Harness) -> Vec<(Record, String)> {
    keyward_test_kit::audit::records(&h.db())
}

/// Checks the whole chain and its head; the number of records.
fn verify(h: &Harness) -> i64 {
    keyward_test_kit::audit::verify(&h.db())
}

/// Reads the trail as it grows: each step's records, and nothing else.
struct Trail<'h> {
    h: &'h Harness,
    seen: usize,
}

impl<'h> Trail<'h> {
    fn new(h: &'h Harness) -> Self {
        Self {
            h,
            seen: records(h).len(),
        }
    }

    fn fresh(&mut self) -> Vec<Record> {
        let all = records(self.h);
        let new: Vec<Record> = all.into_iter().skip(self.seen).map(|(r, _)| r).collect();
        self.seen += new.len();
        new
    }

    /// The one record the last step left, with these fields.
    #[track_caller]
    fn one(&mut self, action: &str, outcome: &str, code: &str, actor: &str) -> Record {
        let new = self.fresh();
        assert_eq!(new.len(), 1, "one record for {action}: {new:#?}");
        let r = new.into_iter().next().unwrap();
        assert_eq!(
            (
                r.action.as_str(),
                r.outcome.as_str(),
                r.code.as_str(),
                r.actor.as_str()
            ),
            (action, outcome, code, actor),
            "{r:#?}"
        );
        assert_eq!(r.service, "shield");
        assert_eq!(r.client, "203.0.113.7");
        assert!(!r.request_id.is_empty());
        r
    }

    #[track_caller]
    fn none(&mut self) {
        let new = self.fresh();
        assert!(new.is_empty(), "no record expected: {new:#?}");
    }
}

fn details(r: &Record) -> Value {
    serde_json::from_str(&r.details).unwrap()
}

fn send(h: &Harness, req: Request) -> Reply {
    h.call(req.with_header("spin-client-addr", PEER))
}

/// A project request (API key and secret).
fn ps(h: &Harness, p: &Project, method: &str, path: &str, body: Option<Value>) -> Reply {
    let mut req = Request::new(method, path)
        .with_header("X-API-Key", &p.api_key)
        .with_header("X-API-Secret", &p.api_secret);
    if let Some(b) = body {
        req = req.with_body(b.to_string());
    }
    send(h, req)
}

/// A user request with a CUSTOM provider token.
fn user(h: &Harness, p: &Project, token: &str, method: &str, path: &str) -> Request {
    h.user(p, token, method, path)
}

fn register(h: &Harness, with_key: bool) -> Project {
    let body = json!({"name": "p", "generate_encryption_key": with_key}).to_string();
    let r = send(
        h,
        Request::new("POST", "/register")
            .with_header("X-Operator-Token", OPERATOR_TOKEN)
            .with_body(body),
    )
    .ok(201);
    Project {
        api_key: r["api_key"].as_str().unwrap().to_owned(),
        api_secret: r["api_secret"].as_str().unwrap().to_owned(),
        part: r["encryption_part"].as_str().map(str::to_owned),
        id: r["id"].as_str().unwrap().to_owned(),
    }
}

fn token(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": T0_MS / 1000 + 600}))
}

/// A CUSTOM PEM provider for `p`; its id.
fn pem_provider(h: &Harness, p: &Project, signer: &TestSigner) -> String {
    let r = ps(
        h,
        p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"pem": signer.public_pem(), "key_type": "rsa"}}})),
    )
    .ok(200);
    r["providers"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn each_action_leaves_one_record_with_its_actor_and_outcome() {
    let h = Harness::new();
    h.set_var("register_token", OPERATOR_TOKEN);
    let mut t = Trail::new(&h);
    let mut secrets: Vec<String> = vec![OPERATOR_TOKEN.into(), MASTER_KEY.into()];

    // Projects.
    let p = register(&h, true);
    let r = t.one("project.create", "success", "", "operator");
    assert_eq!(r.object, p.id);
    assert_eq!(details(&r), json!({"encryption_key": true}));
    let part = p.part.clone().unwrap();
    secrets.extend([p.api_key.clone(), p.api_secret.clone(), part.clone()]);
    let pa = format!("project={}", p.id);
    ps(&h, &p, "GET", "/project", None).ok(200);
    assert_eq!(t.one("project.read", "success", "", &pa).object, p.id);
    // Not implemented: the 501 changes nothing and, as every 5xx, leaves no record.
    assert_eq!(
        ps(&h, &p, "POST", "/project/reset-api-secret", None).status,
        501
    );
    t.none();
    // OTP (docs/shield.md, "Design: OTP and 2FA"): refused before 2FA is on, recorded.
    ps(
        &h,
        &p,
        "POST",
        "/project/otp",
        Some(json!({"user_id": "u", "email": "u@example.com"})),
    )
    .assert_error(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA");
    t.one("project.otp", "failure", "OTP_NOT_SUPPORTED", &pa);

    // Providers.
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    let provider = pem_provider(&h, &p, &signer);
    let r = t.one("provider.add", "success", "", &pa);
    assert_eq!(r.object, provider);
    assert_eq!(details(&r), json!({"types": "CUSTOM"}));
    ps(&h, &p, "GET", "/project/providers", None).ok(200);
    t.one("provider.list", "success", "", &pa);
    let at = format!("/project/providers/{provider}");
    ps(&h, &p, "GET", &at, None).ok(200);
    assert_eq!(t.one("provider.read", "success", "", &pa).object, provider);
    ps(&h, &p, "PUT", &at, Some(json!({"cookie_field_name": ""}))).ok(200);
    assert_eq!(
        t.one("provider.update", "success", "", &pa).object,
        provider
    );
    ps(&h, &p, "PUT", &at, Some(json!({"publishable_key": "pk"}))).assert_error(
        400,
        "PV_CFG_INVALID",
        "Invalid provider config",
    );
    t.one("provider.update", "failure", "PV_CFG_INVALID", &pa);

    // A user the project registers.
    let uid = ps(
        &h,
        &p,
        "POST",
        "/user",
        Some(json!({"external_user_id": "bob", "provider_id": provider})),
    )
    .ok(201)["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t.one("user.create", "success", "", &pa);
    assert_eq!(r.object, uid);
    assert_eq!(details(&r), json!({"provider": provider}));

    // Shares, as the user alice.
    let alice_token = token(&signer, "alice");
    secrets.push(alice_token.clone());
    let alice = |method: &str, path: &str| user(&h, &p, &alice_token, method, path);
    let body =
        json!({"secret": "share-secret-alpha", "entropy": "project", "encryption_part": part});
    send(&h, alice("POST", "/shares").with_body(body.to_string())).ok(201);
    secrets.push("share-secret-alpha".into());
    let alice_id = h
        .sql(
            "SELECT user_id FROM external_users WHERE external_user_id = 'alice'",
            &[],
        )
        .first()
        .unwrap()
        .text(0)
        .unwrap()
        .to_owned();
    let aa = format!("project={} user={alice_id}", p.id);
    assert_eq!(t.one("share.store", "success", "", &aa).object, "default");
    send(
        &h,
        alice("GET", "/shares").with_header("X-Encryption-Part", &part),
    )
    .ok(200);
    assert_eq!(t.one("share.read", "success", "", &aa).object, "default");
    let body =
        json!({"secret": "share-secret-beta", "entropy": "project", "encryption_part": part});
    send(&h, alice("PUT", "/shares").with_body(body.to_string())).ok(200);
    secrets.push("share-secret-beta".into());
    assert_eq!(t.one("share.update", "success", "", &aa).object, "default");

    // An encryption session: created by the project, used once by the user.
    let sid = ps(
        &h,
        &p,
        "POST",
        "/project/encryption-session",
        Some(json!({"encryption_part": part})),
    )
    .ok(200)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(sid.clone());
    let created = t.one("encryption_session.create", "success", "", &pa);
    assert!(created.object.starts_with("session:"), "{created:?}");
    send(
        &h,
        alice("GET", "/shares").with_header("X-Encryption-Session", &sid),
    )
    .ok(200);
    let used = t.one("share.read", "success", "", &aa);
    assert_eq!(
        details(&used),
        json!({"encryption_session": created.object})
    );
    // Used up: the second use is refused, and recorded.
    send(
        &h,
        alice("GET", "/shares").with_header("X-Encryption-Session", &sid),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
    t.one("share.read", "failure", "EC_INVALID", &aa);

    send(&h, alice("GET", "/shares/encryption")).ok(200);
    t.one("share.read_encryption", "success", "", &aa);
    let body = json!({"secret": "share-secret-gamma", "entropy": "user", "salt": "salt",
        "iterations": 1000, "length": 32, "digest": "SHA-256", "reference": "r2"});
    send(&h, alice("POST", "/shares").with_body(body.to_string())).ok(201);
    secrets.push("share-secret-gamma".into());
    assert_eq!(t.one("share.store", "success", "", &aa).object, "r2");
    // The same content again is a retry (docs/shield.md, "Design: share routes"): 201, recorded
    // as one; other content under the reference is 409.
    send(&h, alice("POST", "/shares").with_body(body.to_string())).ok(201);
    let retry = t.one("share.store", "success", "", &aa);
    assert_eq!(retry.object, "r2");
    assert_eq!(details(&retry)["retry"], "same_content");
    let other = json!({"secret": "share-secret-delta", "entropy": "user", "salt": "salt",
        "iterations": 1000, "length": 32, "digest": "SHA-256", "reference": "r2"});
    secrets.push("share-secret-delta".into());
    send(&h, alice("POST", "/shares").with_body(other.to_string())).assert_error(
        409,
        "SH_EXISTS",
        "Share already exists",
    );
    assert_eq!(
        t.one("share.store", "failure", "SH_EXISTS", &aa).object,
        "r2"
    );
    send(
        &h,
        alice("GET", "/keychain").with_header("X-Encryption-Part", &part),
    )
    .ok(200);
    let r = t.one("keychain.list", "success", "", &aa);
    assert_eq!(details(&r), json!({"shares": 2}));
    send(&h, alice("GET", "/shares/r2")).ok(200);
    assert_eq!(t.one("share.read", "success", "", &aa).object, "r2");
    assert_eq!(send(&h, alice("DELETE", "/shares/r2")).status, 204);
    assert_eq!(t.one("share.delete", "success", "", &aa).object, "r2");
    assert_eq!(send(&h, alice("DELETE", "/shares")).status, 204);
    assert_eq!(t.one("share.delete", "success", "", &aa).object, "default");

    // A second project: its key, the admin routes, the migration to project entropy.
    let q = register(&h, false);
    t.one("project.create", "success", "", "operator");
    secrets.extend([q.api_key.clone(), q.api_secret.clone()]);
    let qa = format!("project={}", q.id);
    let q_part = ps(&h, &q, "POST", "/project/encryption-key", None).ok(200)["encryption_part"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(q_part.clone());
    assert_eq!(
        t.one("encryption_part.register", "success", "", &qa).object,
        q.id
    );
    let q_provider = pem_provider(&h, &q, &signer);
    t.one("provider.add", "success", "", &qa);
    let body = json!({"secret": "share-secret-delta", "entropy": "user", "salt": "salt",
        "iterations": 1000, "length": 32, "digest": "SHA-256"});
    let pre = Request::new("POST", "/admin/preregister")
        .with_header("X-API-Key", &q.api_key)
        .with_header("X-API-Secret", &q.api_secret)
        .with_header("X-User-ID", "carol")
        .with_header("X-Auth-Provider", "custom")
        .with_body(body.to_string());
    send(&h, pre).ok(201);
    secrets.push("share-secret-delta".into());
    let r = t.one("share.preregister", "success", "", &qa);
    assert_eq!(r.object, "default");
    let carol = details(&r)["user"].as_str().unwrap().to_owned();
    let body = json!({"user_id": carol, "secret": "share-secret-epsilon", "reference": "r-imp"});
    ps(&h, &q, "POST", "/shares/migration/import", Some(body)).ok(201);
    secrets.push("share-secret-epsilon".into());
    let r = t.one("share.import", "success", "", &qa);
    assert_eq!(r.object, "r-imp");
    assert_eq!(details(&r), json!({"user": carol}));
    ps(
        &h,
        &q,
        "POST",
        "/shares/encryption/reference/bulk",
        Some(json!({"references": ["r-imp", "nope"]})),
    )
    .ok(200);
    let r = t.one("share.lookup_references", "success", "", &qa);
    assert_eq!(details(&r), json!({"references": 2}));
    ps(
        &h,
        &q,
        "POST",
        "/shares/encryption/user/bulk",
        Some(json!({"user_ids": ["carol"]})),
    )
    .ok(200);
    t.one("share.lookup_users", "success", "", &qa);
    ps(&h, &q, "GET", "/shares/migration/export/r-imp", None).ok(200);
    assert_eq!(t.one("share.export", "success", "", &qa).object, "r-imp");
    ps(
        &h,
        &q,
        "POST",
        "/project/encrypt",
        Some(json!({"encryption_part": q_part})),
    )
    .ok(200);
    let r = t.one("project.encrypt", "success", "", &qa);
    // The imported share; the preregistered one has user entropy.
    assert_eq!(details(&r), json!({"shares_encrypted": 1}));
    assert_eq!(
        ps(
            &h,
            &q,
            "DELETE",
            &format!("/project/providers/{q_provider}"),
            None
        )
        .status,
        200
    );
    assert_eq!(
        t.one("provider.remove", "success", "", &qa).object,
        q_provider
    );

    // Routes without an action leave nothing: health, the OpenAPI document, an unknown path.
    send(&h, Request::new("GET", "/healthz")).ok(200);
    send(&h, Request::new("GET", "/shield/openapi.json")).ok(200);
    send(&h, Request::new("GET", "/storage-methods")).ok(200);
    assert_eq!(send(&h, Request::new("GET", "/nothing-here")).status, 404);
    t.none();

    // The chain is intact, and no secret of the run reached it.
    let all = records(&h);
    assert_eq!(verify(&h), i64::try_from(all.len()).unwrap());
    let trail: String = all.iter().map(|(r, mac)| format!("{r:?}{mac}")).collect();
    for secret in &secrets {
        assert!(
            !trail.contains(secret.as_str()),
            "a secret reached the audit trail: {secret}"
        );
    }
}

#[test]
fn authentication_failures_and_refusals_are_recorded_with_their_code() {
    let h = Harness::new();
    h.set_var("register_token", OPERATOR_TOKEN);
    let p = register(&h, false);
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    pem_provider(&h, &p, &signer);
    let mut t = Trail::new(&h);

    // The operator token.
    send(&h, Request::new("POST", "/register").with_body("{}")).assert_error(
        401,
        "A_MISSING",
        "Missing operator token",
    );
    t.one("project.create", "failure", "A_MISSING", "");
    send(
        &h,
        Request::new("POST", "/register")
            .with_header("X-Operator-Token", "not-the-operator-token")
            .with_body("{}"),
    )
    .assert_error(401, "A_INVALID", "Invalid operator token");
    t.one("project.create", "failure", "A_INVALID", "");

    // Project authentication: the project a refused key named is kept apart from the actor.
    send(&h, Request::new("GET", "/project")).assert_error(401, "A_MISSING", "Missing API key");
    t.one("project.read", "failure", "A_MISSING", "");
    let forged = Project {
        api_secret: "00".repeat(32),
        part: None,
        api_key: p.api_key.clone(),
        id: p.id.clone(),
    };
    ps(&h, &forged, "GET", "/project", None).assert_error(
        401,
        "A_INVALID",
        "Invalid API key or API secret",
    );
    let r = t.one("project.read", "failure", "A_INVALID", "");
    assert_eq!(details(&r), json!({"claimed_project": p.id}));
    ps(&h, &forged, "GET", "/shares/migration/export/r", None).assert_error(
        401,
        "A_INVALID",
        "Invalid API key or API secret",
    );
    assert_eq!(
        t.one("share.export", "failure", "A_INVALID", "").object,
        "r"
    );

    // User authentication: the publishable key names the project, the token the user.
    let pa = format!("project={}", p.id);
    // Signed, but not by the provider's key.
    let forged_token = TestSigner::new(Algorithm::ES256, "k1").sign(&json!({"sub": "mallory"}));
    send(&h, user(&h, &p, &forged_token, "GET", "/shares")).assert_error(
        401,
        "A_INVALID",
        "Invalid token",
    );
    t.one("share.read", "failure", "A_INVALID", &pa);
    send(
        &h,
        Request::new("GET", "/keychain")
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "openfort")
            .with_header("Authorization", "Bearer x"),
    )
    .assert_error(401, "A_INVALID", "Invalid auth provider");
    t.one("keychain.list", "failure", "A_INVALID", &pa);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM users"),
        0,
        "no user from a refused token"
    );

    // The rate limit.
    h.set_var("rate_limit_requests", "1");
    h.now_ms.set(T0_MS + 10_000);
    ps(&h, &p, "GET", "/project", None).ok(200);
    t.one("project.read", "success", "", &pa);
    ps(&h, &p, "GET", "/project", None).assert_error(429, "RATE_LIMITED", "Rate limit exceeded");
    // Counted once authenticated (docs/shield.md, "Design: rate limit"): the project is the
    // actor, and the record names the budget that ran out.
    let r = t.one("project.read", "failure", "RATE_LIMITED", &pa);
    assert_eq!(details(&r), json!({"rate_limited": "project"}));
    let alice = token(&signer, "alice");
    send(&h, user(&h, &p, &alice, "GET", "/keychain")).assert_error(
        429,
        "RATE_LIMITED",
        "Rate limit exceeded",
    );
    let r = t.one("keychain.list", "failure", "RATE_LIMITED", &pa);
    assert_eq!(details(&r), json!({"rate_limited": "project"}));

    verify(&h);
}

#[test]
fn a_share_write_whose_record_cannot_be_written_does_not_happen() {
    let h = Harness::new();
    let p = h.register(true);
    let part = p.part.clone().unwrap();
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    pem_provider(&h, &p, &signer);
    let before = records(&h).len();
    let shares = h.count("SELECT COUNT(*) FROM shares");
    let users = h.count("SELECT COUNT(*) FROM users");

    h.sql(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit storage refused'); END",
        &[],
    );
    let tok = token(&signer, "alice");
    let body = json!({"secret": "s", "entropy": "project", "encryption_part": part});
    let r = send(
        &h,
        h.user(&p, &tok, "POST", "/shares")
            .with_body(body.to_string()),
    );
    r.0.assert_error(503, "AUDIT_UNAVAILABLE");
    assert!(r.header("x-request-id").is_some());
    // A project route (its transaction begun at once) and a refusal that touched nothing.
    ps(
        &h,
        &p,
        "POST",
        "/project/encryption-session",
        Some(json!({"encryption_part": part})),
    )
    .0
    .assert_error(503, "AUDIT_UNAVAILABLE");
    send(&h, Request::new("GET", "/project"))
        .0
        .assert_error(503, "AUDIT_UNAVAILABLE");
    h.sql("DROP TRIGGER refuse_audit", &[]);

    assert_eq!(records(&h).len(), before);
    assert_eq!(h.count("SELECT COUNT(*) FROM shares"), shares, "no share");
    assert_eq!(h.count("SELECT COUNT(*) FROM users"), users, "no user");
    assert_eq!(h.count("SELECT COUNT(*) FROM encryption_sessions"), 0);
    assert_eq!(verify(&h), i64::try_from(before).unwrap());
    // The same write, auditable again, happens.
    send(
        &h,
        h.user(&p, &tok, "POST", "/shares")
            .with_body(body.to_string()),
    )
    .ok(201);
    assert_eq!(records(&h).len(), before + 1);
}

#[test]
fn a_4xx_keeps_its_writes_and_record_a_5xx_neither() {
    let h = Harness::new();
    let p = h.register(true);
    let part = p.part.clone().unwrap();
    let signer = TestSigner::new(Algorithm::RS256, "k1");
    pem_provider(&h, &p, &signer);
    let mut t = Trail::new(&h);

    // A first request of a new user that finds nothing: the user it created stays.
    send(&h, h.user(&p, &token(&signer, "newbie"), "GET", "/shares")).assert_error(
        404,
        "SH_NOT_FOUND",
        "Share not found",
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM users"), 1);
    let newbie = h.sql("SELECT id FROM users", &[]);
    let newbie = newbie.first().unwrap().text(0).unwrap();
    let actor = format!("project={} user={newbie}", p.id);
    t.one("share.read", "failure", "SH_NOT_FOUND", &actor);

    // The project's stored key half no longer opens: a new user's share write fails with a
    // 500, and neither the user, nor the share, nor a record is left.
    h.sql("UPDATE encryption_keys SET db_part = 'AAAA'", &[]);
    let body = json!({"secret": "s", "entropy": "project", "encryption_part": part});
    let r = send(
        &h,
        h.user(&p, &token(&signer, "ghost"), "POST", "/shares")
            .with_body(body.to_string()),
    );
    assert_eq!(r.status, 500, "{}", r.text());
    t.none();
    assert_eq!(h.count("SELECT COUNT(*) FROM users"), 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM shares"), 0);
    verify(&h);
}

/// A share route holds no transaction while the identity provider answers: another writer
/// gets through during the outbound call (with a transaction begun, on SQLite it would wait
/// for the write lock until the request ends).
#[test]
fn no_transaction_is_held_across_the_identity_provider_call() {
    let h = Harness::new();
    let p = h.register(false);
    h.ps(
        &p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": {"jwk": "http://idp.test/jwks.json"}}})),
    )
    .ok(200);
    let signer = TestSigner::new(Algorithm::ES256, "es1");
    let jwks = jwks_json(&[&signer]);
    let path = h.db_path.clone();
    let probes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = probes.clone();
    h.on_fetch(move |_| {
        let (done, wait) = mpsc::channel();
        let path = path.clone();
        std::thread::spawn(move || {
            let db = guest_kit::native::SqliteDb::open(&path).unwrap();
            let wrote = db.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)", &[]);
            let _ = done.send(wrote.is_ok());
        });
        seen.borrow_mut()
            .push(wait.recv_timeout(Duration::from_secs(3)).unwrap_or(false));
        Ok(OutboundResponse {
            status: 200,
            headers: vec![],
            body: jwks.clone().into_bytes(),
        })
    });
    let tok = signer.sign(&json!({"sub": "alice"}));
    send(&h, h.user(&p, &tok, "GET", "/keychain")).ok(200);
    assert_eq!(
        *probes.borrow(),
        [true],
        "the write got through during the call"
    );
    let last = records(&h).pop().unwrap().0;
    assert_eq!(last.action, "keychain.list");
}

/// Without master_key no record can be keyed, so no audited request is carried out (shield
/// needs the key for every sealed column anyway); health names no action and still answers.
#[test]
fn without_master_key_only_health_answers() {
    let h = Harness::new();
    let p = h.register(false);
    let before = h.count("SELECT COUNT(*) FROM projects");
    h.unset_var("master_key");
    ps(&h, &p, "GET", "/project", None)
        .0
        .assert_error(503, "AUDIT_UNAVAILABLE");
    send(&h, Request::new("POST", "/register").with_body("{}"))
        .0
        .assert_error(503, "AUDIT_UNAVAILABLE");
    assert_eq!(h.count("SELECT COUNT(*) FROM projects"), before);
    send(&h, Request::new("GET", "/healthz")).ok(200);
}
