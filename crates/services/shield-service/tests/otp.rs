//! 2FA and OTP natively (docs/shield.md, "Design: OTP and 2FA"): enable-2fa, `/project/otp`
//! delivered through the signed webhook (a scripted receiver here), `otp_code` on session
//! creation with upstream's answers, the 428 gate, the limits (per user, per project and hour),
//! contact hashing, and what is stored.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::OutboundResponse;
use jwt_verify::test_signer::TestSigner;
use serde_json::{Value, json};

const SECRET: &str = "webhook-test-secret";
const HOOK: &str = "https://otp-relay.example/hook";
/// A session that needs a code and has none.
const MISSING: (u16, &str, &str) = (428, "OTP_MISSING", "OTP is required for this request");

/// The webhook receiver answers every delivery with `status`.
fn webhook_answers(h: &Harness, status: u16) {
    h.on_fetch(move |_| {
        Ok(OutboundResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        })
    });
}

/// A project with a key and a CUSTOM PEM provider, a `project` share for `user`, and the
/// webhook configured and answering 204; 2FA still off.
fn project_with_share(h: &Harness, user: &str, secret: &str) -> (Project, TestSigner) {
    h.set_var("otp_webhook_url", HOOK);
    h.set_var("otp_webhook_secret", SECRET);
    webhook_answers(h, 204);
    let (p, signer) = h.pem_project(true);
    let share =
        json!({"secret": secret, "entropy": "project", "encryption_part": p.part.clone().unwrap()});
    h.call(
        h.user(&p, &token(h, &signer, user), "POST", "/shares")
            .with_body(share.to_string()),
    )
    .ok(201);
    (p, signer)
}

/// [`project_with_share`] with 2FA turned on.
fn two_fa_project(h: &Harness, user: &str) -> (Project, TestSigner) {
    let (p, signer) = project_with_share(h, user, "s3cret");
    h.ps(&p, "POST", "/project/enable-2fa", Some(json!({})))
        .ok(200);
    (p, signer)
}

fn token(h: &Harness, s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": h.now_secs() + 600}))
}

/// The webhook calls so far, each checked against the documented signature scheme: its body.
fn deliveries(h: &Harness) -> Vec<Value> {
    let seen = h.fetch.seen.lock().unwrap();
    seen.iter()
        .map(|r| {
            assert_eq!(r.url, HOOK);
            assert_eq!(r.method, "POST");
            let sig = r.header("x-keyward-signature").expect("signature header");
            assert!(
                shield_core::otp::verify_webhook(
                    SECRET.as_bytes(),
                    sig,
                    &r.body,
                    i64::try_from(h.now_secs()).unwrap(),
                    300
                ),
                "the signature verifies"
            );
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

/// The code of the latest delivery.
fn last_code(h: &Harness) -> String {
    deliveries(h).last().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn otp(h: &Harness, p: &Project, body: Value) -> Reply {
    h.ps(p, "POST", "/project/otp", Some(body))
}

/// A code for `user` to `user@example.com`.
fn by_email(h: &Harness, p: &Project, user: &str) -> Reply {
    otp(
        h,
        p,
        json!({"user_id": user, "email": format!("{user}@example.com")}),
    )
}

fn session(h: &Harness, p: &Project, user: &str, code: Option<&str>) -> Reply {
    let mut body = json!({"encryption_part": p.part.clone().unwrap(), "user_id": user});
    if let Some(c) = code {
        body["otp_code"] = json!(c);
    }
    h.ps(p, "POST", "/project/encryption-session", Some(body))
}

fn read_with_session(h: &Harness, p: &Project, s: &TestSigner, user: &str, sid: &str) -> Reply {
    h.call(
        h.user(p, &token(h, s, user), "GET", "/shares")
            .with_header("X-Encryption-Session", sid),
    )
}

fn sid(r: &Reply) -> String {
    r.ok(200)["session_id"].as_str().unwrap().to_owned()
}

#[test]
fn enable_2fa_once_and_register_with_it() {
    let h = Harness::new();
    let p = h.register(false);
    assert_eq!(
        h.ps(&p, "GET", "/project", None).ok(200)["enabled_2fa"],
        false
    );
    assert_eq!(
        h.ps(&p, "POST", "/project/enable-2fa", Some(json!({})))
            .ok(200),
        Value::Null
    );
    h.ps(&p, "POST", "/project/enable-2fa", Some(json!({})))
        .assert_error(
            409,
            "OTP_ALREADY_ENABLED",
            "Project already has 2FA enabled",
        );
    assert_eq!(
        h.ps(&p, "GET", "/project", None).ok(200)["enabled_2fa"],
        true
    );
    let r = h
        .call(guest_kit::Request::new("POST", "/register").with_body(r#"{"enable_2fa":true}"#))
        .ok(201);
    assert_eq!(r["enabled_2fa"], true);
}

#[test]
fn email_code_opens_a_session_that_reads_project_shares_once() {
    let h = Harness::new();
    let (p, s) = two_fa_project(&h, "alice");
    // No code requested yet → 428; the encryption part itself still reads.
    session(&h, &p, "alice", None).assert_error(MISSING.0, MISSING.1, MISSING.2);
    by_email(&h, &p, "alice").ok(200);
    let sent = deliveries(&h);
    assert_eq!(sent.len(), 1);
    let d = &sent[0];
    assert_eq!(d["type"], "shield.otp");
    assert_eq!(d["project_id"], p.id.as_str());
    assert_eq!(d["user_id"], "alice");
    assert_eq!(d["channel"], "email");
    assert_eq!(d["to"], "alice@example.com");
    assert_eq!(d["expires_at"], json!(h.now_secs() + 300));
    let code = last_code(&h);
    assert_eq!(code.len(), 9);
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    // While the code is pending, the database holds neither it nor the address.
    let pending = h.at_rest();
    for plain in [code.as_str(), "alice@example.com"] {
        assert!(
            !pending.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} stored"
        );
    }
    // Requested but not given.
    session(&h, &p, "alice", None).assert_error(
        400,
        "OTP_REQUESTED_BUT_NOT_SENT",
        "OTP was requested but not sent",
    );
    let sid = sid(&session(&h, &p, "alice", Some(&code)));
    assert_eq!(
        read_with_session(&h, &p, &s, "alice", &sid).ok(200)["secret"],
        "s3cret"
    );
    // Single use: the code is gone.
    session(&h, &p, "alice", Some(&code)).assert_error(MISSING.0, MISSING.1, MISSING.2);
    // Nothing in the database holds the code or the address.
    let at_rest = h.at_rest();
    for plain in [code.as_str(), "alice@example.com"] {
        assert!(
            !at_rest.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} stored"
        );
    }
    // The audit trail names what happened, never the code or the address.
    let trail = keyward_test_kit::audit::records(&h.db());
    let find = |action: &str, code: &str| {
        trail
            .iter()
            .map(|(r, _)| r)
            .find(|r| r.action == action && r.code == code)
            .unwrap_or_else(|| panic!("{action} {code}"))
            .clone()
    };
    let sent = find("project.otp", "");
    assert_eq!(sent.outcome, "success");
    let details: Value = serde_json::from_str(&sent.details).unwrap();
    assert_eq!(details, json!({"user_id": "alice", "channel": "email"}));
    let created = find("encryption_session.create", "");
    assert!(created.details.contains("verified"), "{}", created.details);
    find("encryption_session.create", "OTP_MISSING");
    find("encryption_session.create", "OTP_REQUESTED_BUT_NOT_SENT");
    find("project.enable_2fa", "");
    for (r, _) in &trail {
        let all = format!("{r:?}");
        assert!(
            !all.contains(&code) && !all.contains("alice@example.com"),
            "{all}"
        );
    }
    assert_eq!(
        h.sql(
            "SELECT email_sha512 FROM user_contacts WHERE user_id = 'alice'",
            &[]
        )
        .first()
        .and_then(|r| r.text(0).map(str::to_owned)),
        Some(shield_core::otp::contact_digest("alice@example.com"))
    );
}

#[test]
fn the_428_gate_on_sessions_without_a_code() {
    let h = Harness::new();
    let (p, signer) = project_with_share(&h, "bob", "x");
    let part = p.part.clone().unwrap();
    // A session made before 2FA was turned on.
    let old = sid(&session(&h, &p, "bob", None));
    h.ps(&p, "POST", "/project/enable-2fa", Some(json!({})))
        .ok(200);
    for path in ["/shares", "/shares/default", "/keychain"] {
        let r = h.call(
            h.user(&p, &token(&h, &signer, "bob"), "GET", path)
                .with_header("X-Encryption-Session", &old),
        );
        r.assert_error(MISSING.0, MISSING.1, MISSING.2);
    }
    // Not consumed by the refusals; the part still works without a code.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM encryption_sessions"),
        1,
        "the session stays"
    );
    h.call(
        h.user(&p, &token(&h, &signer, "bob"), "GET", "/shares")
            .with_header("X-Encryption-Part", &part),
    )
    .ok(200);
    // dangerously_skip_verification: no delivery, a session, but not one that reads.
    otp(
        &h,
        &p,
        json!({"user_id": "bob", "dangerously_skip_verification": true}),
    )
    .ok(200);
    assert!(h.fetch.seen.lock().unwrap().is_empty(), "nothing delivered");
    let skipped = sid(&session(&h, &p, "bob", None));
    read_with_session(&h, &p, &signer, "bob", &skipped)
        .assert_error(MISSING.0, MISSING.1, MISSING.2);
    // Writes through a session are not gated (as upstream).
    let w = json!({"secret": "y", "entropy": "project", "encryption_session": skipped, "reference": "r2"});
    h.call(
        h.user(&p, &token(&h, &signer, "bob"), "POST", "/shares")
            .with_body(w.to_string()),
    )
    .ok(201);
}

#[test]
fn wrong_codes_invalidate_and_three_invalidations_stop_new_codes() {
    let h = Harness::new();
    let (p, _) = two_fa_project(&h, "carol");
    let request = || by_email(&h, &p, "carol");
    for round in 0..3 {
        request().ok(200);
        let code = last_code(&h);
        let wrong = if code == "000000000" {
            "000000001"
        } else {
            "000000000"
        };
        for _ in 0..2 {
            session(&h, &p, "carol", Some(wrong)).assert_error(
                400,
                "OTP_INVALID",
                "Received otp is invalid",
            );
        }
        session(&h, &p, "carol", Some(wrong)).assert_error(
            400,
            "OTP_INVALIDATED",
            "OTP invalidated after max failed attempts",
        );
        // The right code is no use any more.
        session(&h, &p, "carol", Some(&code)).assert_error(MISSING.0, MISSING.1, MISSING.2);
        assert_eq!(deliveries(&h).len(), round + 1);
    }
    // The user's limit: no new code for six hours; other users are not affected.
    request().assert_error(429, "OTP_RATE_LIMIT", "Rate limit exceeded to generate OTP");
    by_email(&h, &p, "dave").ok(200);
    h.advance_secs(6 * 3600 + 1);
    request().ok(200);
}

#[test]
fn codes_expire_after_five_minutes() {
    let h = Harness::new();
    let (p, _) = two_fa_project(&h, "erin");
    otp(
        &h,
        &p,
        json!({"user_id": "erin", "phone": "+44 20 7946 0958"}),
    )
    .ok(200);
    let code = last_code(&h);
    assert_eq!(deliveries(&h)[0]["channel"], "sms");
    h.advance_secs(300);
    session(&h, &p, "erin", Some(&code)).assert_error(422, "OTP_EXPIRED", "OTP is expired");
    session(&h, &p, "erin", Some(&code)).assert_error(MISSING.0, MISSING.1, MISSING.2);
}

#[test]
fn project_hourly_limits_per_channel() {
    let h = Harness::new();
    let (p, _) = two_fa_project(&h, "u0");
    let (q, _) = two_fa_project(&h, "u0");
    h.set_var("otp_sms_per_hour", "2");
    h.set_var("otp_email_per_hour", "3");
    // Start at an hour boundary so the window cannot roll over mid-test.
    let now = h.now_ms.get();
    h.now_ms.set(now - now.rem_euclid(3_600_000) + 3_600_000);
    let sms = |p: &Project, u: &str| otp(&h, p, json!({"user_id": u, "phone": "+15550109999"}));
    let mail = |p: &Project, u: &str| {
        otp(
            &h,
            p,
            json!({"user_id": u, "email": format!("{u}@example.com")}),
        )
    };
    sms(&p, "s1").ok(200);
    sms(&p, "s2").ok(200);
    let r = sms(&p, "s3");
    r.assert_error(429, "OTP_RATE_LIMIT", "Rate limit exceeded to generate OTP");
    assert_eq!(r.header("retry-after"), Some("3600"));
    let delivered = deliveries(&h).len();
    assert_eq!(delivered, 2, "nothing sent over the limit");
    // Email has its own budget; skipped verification sends nothing and is not counted.
    for u in ["e1", "e2", "e3"] {
        mail(&p, u).ok(200);
    }
    mail(&p, "e4").assert_error(429, "OTP_RATE_LIMIT", "Rate limit exceeded to generate OTP");
    otp(
        &h,
        &p,
        json!({"user_id": "k", "dangerously_skip_verification": true}),
    )
    .ok(200);
    // Another project has its own.
    sms(&q, "s1").ok(200);
    // The next hour.
    h.advance_secs(3600);
    sms(&p, "s3").ok(200);
}

#[test]
fn contacts_are_pinned_per_user() {
    let h = Harness::new();
    let (p, _) = two_fa_project(&h, "fay");
    by_email(&h, &p, "fay").ok(200);
    otp(
        &h,
        &p,
        json!({"user_id": "fay", "email": "mallory@example.com"}),
    )
    .assert_error(
        400,
        "USER_CONTACTS_MISMATCH",
        "User contact information mismatch",
    );
    // A phone is recorded beside the e-mail, then pinned too.
    otp(&h, &p, json!({"user_id": "fay", "phone": "+15550100001"})).ok(200);
    otp(&h, &p, json!({"user_id": "fay", "phone": "+15550100002"})).assert_error(
        400,
        "USER_CONTACTS_MISMATCH",
        "User contact information mismatch",
    );
    by_email(&h, &p, "fay").ok(200);
    assert_eq!(deliveries(&h).len(), 3, "no code to a mismatching address");
}

#[test]
fn refusals() {
    let h = Harness::new();
    let (p, _) = two_fa_project(&h, "gus");
    let bad = (400, "BAD_REQUEST", "invalid parameters were passed");
    for body in [
        json!({}),
        json!({"user_id": "gus"}),
        json!({"email": "gus@example.com"}),
        json!({"user_id": "gus", "email": "gus@example.com", "phone": "+15550100001"}),
        json!({"user_id": "gus", "dangerously_skip_verification": true, "email": "gus@example.com"}),
    ] {
        otp(&h, &p, body).assert_error(bad.0, bad.1, bad.2);
    }
    otp(&h, &p, json!({"user_id": "gus", "email": "not-an-email"})).assert_error(
        400,
        "EMAIL_INVALID",
        "Provided Email is invalid",
    );
    otp(&h, &p, json!({"user_id": "gus", "phone": "12"})).assert_error(
        400,
        "PHONE_INVALID",
        "Provided phone number is invalid",
    );
    otp(
        &h,
        &p,
        json!({"user_id": "gus", "email": format!("{}@example.com", "a".repeat(300))}),
    )
    .assert_error(400, "BAD_REQUEST", "email must be at most 256 bytes");
    // A project without 2FA.
    let plain = h.register(false);
    by_email(&h, &plain, "gus").assert_error(
        400,
        "OTP_NOT_SUPPORTED",
        "Project doesn't support 2FA",
    );
    // The receiver fails: 502, and no code is left to verify.
    webhook_answers(&h, 500);
    let r = by_email(&h, &p, "gus");
    r.assert_error(502, "OTP_DELIVERY_FAILED", "The OTP could not be delivered");
    assert_eq!(h.count("SELECT COUNT(*) FROM otp_codes"), 0);
    // No webhook configured: 503 naming the variables.
    h.unset_var("otp_webhook_url");
    by_email(&h, &p, "gus").assert_error(
        503,
        "MISSING_NOTIFICATION_SERV",
        "Missing notification service: set otp_webhook_url and otp_webhook_secret",
    );
    // A code for one project is not one for another.
    h.set_var("otp_webhook_url", HOOK);
    webhook_answers(&h, 200);
    let (q, _) = two_fa_project(&h, "gus");
    by_email(&h, &p, "gus").ok(200);
    let code = last_code(&h);
    session(&h, &q, "gus", Some(&code)).assert_error(MISSING.0, MISSING.1, MISSING.2);
    // A wrong part does not cost the code.
    let mut body =
        json!({"encryption_part": q.part.clone().unwrap(), "user_id": "gus", "otp_code": code});
    h.ps(&p, "POST", "/project/encryption-session", Some(body.take()))
        .assert_error(400, "EC_INVALID", "Invalid encryption part");
    session(&h, &p, "gus", Some(&code)).ok(200);
}
