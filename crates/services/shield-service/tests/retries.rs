//! A same-content retry of a share write answers what the first write answered (docs/shield.md,
//! "Design: share routes", retries): 201, not 409; different content stays 409.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use serde_json::{Value, json};

struct Setup {
    h: Harness,
    p: Project,
    token: String,
}

fn setup() -> Setup {
    let h = Harness::new();
    let (p, signer) = h.pem_project(true);
    let token = signer.sign(&json!({"sub": "alice", "exp": T0_MS / 1000 + 3600}));
    Setup { h, p, token }
}

impl Setup {
    fn post(&self, body: &Value) -> Reply {
        self.h.call(
            self.h
                .user(&self.p, &self.token, "POST", "/shares")
                .with_body(body.to_string()),
        )
    }

    fn session(&self) -> String {
        let part = self.p.part.clone().unwrap();
        let r = self
            .h
            .ps(
                &self.p,
                "POST",
                "/project/encryption-session",
                Some(json!({"encryption_part": part})),
            )
            .ok(200);
        r["session_id"].as_str().unwrap().to_owned()
    }

    fn read(&self, reference: &str) -> Value {
        let part = self.p.part.clone().unwrap();
        self.h
            .call(
                self.h
                    .user(&self.p, &self.token, "GET", &format!("/shares/{reference}"))
                    .with_header("X-Encryption-Part", part),
            )
            .ok(200)
    }
}

fn exists(r: &Reply) {
    r.assert_error(409, "SH_EXISTS", "Share already exists");
}

#[test]
fn a_retried_user_share_is_201_and_a_different_one_409() {
    let s = setup();
    let share = json!({"secret": "s1", "entropy": "user", "salt": "salt", "iterations": 1000,
        "length": 32, "digest": "SHA-256"});
    s.post(&share).ok(201);
    s.post(&share).ok(201);
    assert_eq!(s.h.count("SELECT COUNT(*) FROM shares"), 1);
    let mut other = share.clone();
    other["secret"] = json!("s2");
    exists(&s.post(&other));
    let mut other = share.clone();
    other["iterations"] = json!(1001);
    exists(&s.post(&other));
    let mut other = share.clone();
    other["storage_method_id"] = json!(1);
    exists(&s.post(&other));
    // A passkey share, its environment from the body.
    let passkey = json!({"secret": "pk", "entropy": "passkey", "reference": "pk-1",
        "passkey_reference": {"passkey_id": "id-1",
            "PasskeyEnv": {"name": "n", "os": "o", "osVersion": "1", "device": "d"}}});
    s.post(&passkey).ok(201);
    s.post(&passkey).ok(201);
    let mut other = passkey.clone();
    other["passkey_reference"]["passkey_id"] = json!("id-2");
    exists(&s.post(&other));
}

#[test]
fn a_retried_project_share_with_its_part_is_201() {
    let s = setup();
    let part = s.p.part.clone().unwrap();
    let share = json!({"secret": "plain", "entropy": "project", "reference": "r1",
        "encryption_part": part});
    s.post(&share).ok(201);
    s.post(&share).ok(201);
    assert_eq!(s.read("r1")["secret"], "plain");
    let mut other = share.clone();
    other["secret"] = json!("plain2");
    exists(&s.post(&other));
    assert_eq!(s.read("r1")["secret"], "plain");
}

#[test]
fn a_retry_through_its_consumed_session_is_201_until_the_session_would_have_expired() {
    let s = setup();
    let session = s.session();
    let share = json!({"secret": "plain", "entropy": "project", "reference": "r1",
        "encryption_session": session});
    s.post(&share).ok(201);
    // The session is consumed; the retry is recognised by the write's receipt.
    s.post(&share).ok(201);
    let mut other = share.clone();
    other["secret"] = json!("plain2");
    exists(&s.post(&other));
    // The receipt is of this share and this session: another share's retry does not match.
    let mut elsewhere = share.clone();
    elsewhere["reference"] = json!("r2");
    s.post(&elsewhere)
        .assert_error(400, "EC_INVALID", "Invalid encryption session");
    s.h.now_ms.set(T0_MS + 5 * 60 * 1000);
    exists(&s.post(&share));
    assert_eq!(s.read("r1")["secret"], "plain");
}

#[test]
fn a_retry_with_a_new_session_uses_it_only_when_the_content_is_the_same() {
    let s = setup();
    let part = s.p.part.clone().unwrap();
    s.post(
        &json!({"secret": "plain", "entropy": "project", "reference": "r1",
        "encryption_part": part}),
    )
    .ok(201);
    // Different content: 409, and the session stays usable.
    let fresh = s.session();
    exists(&s.post(
        &json!({"secret": "other", "entropy": "project", "reference": "r1",
        "encryption_session": fresh}),
    ));
    s.post(
        &json!({"secret": "plain", "entropy": "project", "reference": "r1",
        "encryption_session": fresh}),
    )
    .ok(201);
    // Used by that retry: single use.
    s.post(
        &json!({"secret": "x", "entropy": "project", "reference": "r2",
        "encryption_session": fresh}),
    )
    .assert_error(400, "EC_INVALID", "Invalid encryption session");
}

#[test]
fn a_retried_preregistration_is_201() {
    let s = setup();
    let prereg = |body: &Value| {
        s.h.call(
            Request::new("POST", "/admin/preregister")
                .with_header("X-API-Key", &s.p.api_key)
                .with_header("X-API-Secret", &s.p.api_secret)
                .with_header("X-User-ID", "bob")
                .with_header("X-Auth-Provider", "custom")
                .with_body(body.to_string()),
        )
    };
    let share = json!({"secret": "s1", "entropy": "user", "salt": "salt", "iterations": 1000,
        "length": 32, "digest": "SHA-256"});
    prereg(&share).ok(201);
    prereg(&share).ok(201);
    let mut other = share.clone();
    other["secret"] = json!("s2");
    exists(&prereg(&other));
    // Another user's share is never a retry, whatever it holds.
    let mut named = share.clone();
    named["reference"] = json!("bob-ref");
    prereg(&named).ok(201);
    exists(&s.post(&named));
}
