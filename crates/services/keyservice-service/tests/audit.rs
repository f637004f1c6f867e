//! The audit trail as keyservice writes it (docs/OPERATIONS.md, "Audit trail"), on a real SQLite
//! file: one record per request that names an action, in the request's transaction.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use audit_chain::Record;
use common::*;

/// Every record, in order, with its link.
fn records(h: &Harness) -> Vec<(Record, String)> {
    keyward_test_kit::audit::records(&h.db())
}

/// Checks the whole chain and its head; the number of records.
fn verify(h: &Harness) -> i64 {
    keyward_test_kit::audit::verify(&h.db())
}

/// (action, outcome, code, actor) of the records after `from`.
fn summary(h: &Harness, from: usize) -> Vec<(String, String, String, String)> {
    records(h)
        .into_iter()
        .skip(from)
        .map(|(r, _)| (r.action, r.outcome, r.code, r.actor))
        .collect()
}

fn row(action: &str, outcome: &str, code: &str, actor: &str) -> (String, String, String, String) {
    (action.into(), outcome.into(), code.into(), actor.into())
}

#[test]
fn each_action_leaves_one_record_with_its_actor_and_outcome() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    let from = records(&h).len();
    assert_eq!(
        from, 3,
        "namespace.create, init_token.issue, session.connect"
    );
    assert_eq!(h.key(&s, "PUT", b"key-bytes-0001").status, 204);
    assert_eq!(h.key(&s, "GET", b"").status, 200);
    let forged = Session {
        init_token: "not-the-init-token".into(),
        ..s.clone()
    };
    h.key(&forged, "GET", b"").assert_error(401, "AUTH_INVALID");
    assert_eq!(h.key(&s, "DELETE", b"").status, 204);
    h.admin("POST", "/admin/namespaces/ns/rotate-secret", "");
    // Not routed: nothing to record.
    assert_eq!(h.admin("GET", "/admin/nothing-here", "").status, 404);

    let alice = "namespace=ns user=alice";
    assert_eq!(
        summary(&h, from),
        [
            row("key.store", "success", "", alice),
            row("key.read", "success", "", alice),
            row("key.read", "failure", "AUTH_INVALID", ""),
            row("key.delete", "success", "", alice),
            row("namespace.rotate_secret", "success", "", "admin"),
        ]
    );
    let all = records(&h);
    let (first, _) = &all[0];
    assert_eq!(
        (
            first.action.as_str(),
            first.object.as_str(),
            first.actor.as_str()
        ),
        ("namespace.create", "ns", "admin")
    );
    for (r, _) in &all {
        assert_eq!(r.service, "keyservice");
        assert_eq!(r.client, "203.0.113.10");
        assert!(!r.request_id.is_empty());
    }
    assert_eq!(verify(&h), 8);

    // No secret of the run reaches the trail.
    let trail: String = all.iter().map(|(r, mac)| format!("{r:?}{mac}")).collect();
    for secret in [
        secret.as_str(),
        &s.init_token,
        &s.session_token,
        "key-bytes-0001",
        ADMIN_TOKEN,
        MASTER_KEY,
    ] {
        assert!(!trail.contains(secret), "a secret reached the audit trail");
    }
}

#[test]
fn an_action_whose_record_cannot_be_written_does_not_happen() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&s, "PUT", b"first").status, 204);
    let before = records(&h).len();

    h.sql(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit storage refused'); END",
        &[],
    );
    h.key(&s, "PUT", b"second")
        .assert_error(503, "AUDIT_UNAVAILABLE");
    h.key(&s, "GET", b"").assert_error(503, "AUDIT_UNAVAILABLE");
    // A refusal that touched nothing is refused too when it cannot be recorded.
    h.admin("GET", "/admin/namespaces", "")
        .assert_error(503, "AUDIT_UNAVAILABLE");
    h.sql("DROP TRIGGER refuse_audit", &[]);

    assert_eq!(records(&h).len(), before);
    let r = h.key(&s, "GET", b"");
    assert_eq!(r.body, b"first", "the refused PUT stored nothing");
    assert_eq!(verify(&h), i64::try_from(before).unwrap() + 1);
}

#[test]
fn an_action_rolled_back_for_a_server_error_leaves_no_record() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&s, "PUT", b"value").status, 204);
    let before = records(&h).len();
    // A stored ciphertext that no longer opens: the read fails with 500 and rolls back.
    h.sql("UPDATE ks_key SET value_ct = 'AAAA'", &[]);
    assert_eq!(h.key(&s, "GET", b"").status, 500);
    assert_eq!(records(&h).len(), before);
    assert_eq!(verify(&h), i64::try_from(before).unwrap());
}
