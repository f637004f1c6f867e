//! Revocation over two hosts on one state (issue 14, item 4): what one host revokes, the other
//! refuses on the next request, because revocation is a delete in storage, not memory. Runs on
//! both passes (embedded SQLite files shared by the two hosts, then PostgreSQL).
//!
//! keyservice's part: docs/keyservice.md, "Design: revoking sessions" and "Design: rotating a
//! namespace secret". Each service's tests are named after it.

use std::time::{Duration, Instant};

use keyward_e2e::keyservice::scenario_host;
use keyward_e2e::{Host, HostBuilder};
use keyward_test_kit::scenarios::keyservice::{
    AUTH_FAILED, admin, assert_401, connect, create_namespace, init, init_hash, key, session,
    token_in, unique,
};
use serde_json::json;
use sha2::Digest as _;

/// Two hosts on one state directory (on the scale-out pass: on the databases derived from it);
/// the directory lives as long as the first value.
fn two_hosts(builder: impl Fn() -> HostBuilder) -> (tempfile::TempDir, Host, Host) {
    let state = tempfile::tempdir().expect("tempdir");
    let a = builder().state_dir(state.path()).start();
    let b = builder().state_dir(state.path()).start();
    (state, a, b)
}

/// The id the operator API shows for a session token: 16 hex digits of its SHA-256.
fn keyservice_session_id(token: &str) -> String {
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..8])
}

/// `/connect` at `host` with `secret` for a fresh init token: its status.
fn keyservice_connects(host: &Host, ns: &str, secret: &str) -> u16 {
    let hash = init_hash(&init(host));
    let r = connect(host, ns, secret, "someone", &hash);
    if r.status == 401 {
        assert_401(&r, AUTH_FAILED);
    }
    r.status
}

#[test]
fn keyservice_a_session_revoked_at_one_host_is_refused_at_the_other() {
    let (_state, a, b) = two_hosts(scenario_host);
    let ns = unique("revoke");
    let secret = create_namespace(&a, &ns, &[]);
    let first = session(&b, &ns, &secret, "alice");
    let second = session(&b, &ns, &secret, "alice");
    let bob = session(&a, &ns, &secret, "bob");
    assert_eq!(key(&b, &first, "PUT", b"alice's key", None).status, 204);
    // Each host has served each session once before it is revoked.
    for host in [&a, &b] {
        assert_eq!(key(host, &first, "GET", b"", None).body, b"alice's key");
        assert_eq!(key(host, &second, "GET", b"", None).status, 200);
        key(host, &bob, "GET", b"", None).assert_error(404, "KEY_NOT_FOUND");
    }

    // One session, revoked through a, listed and refused at b.
    let alice = format!("/admin/namespaces/{ns}/users/alice/sessions");
    let first_id = keyservice_session_id(&first.session_token);
    let r = admin(&a, "DELETE", &format!("{alice}/{first_id}"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_401(&key(&b, &first, "GET", b"", None), AUTH_FAILED);
    assert_eq!(key(&b, &second, "GET", b"", None).body, b"alice's key");
    let listed = admin(&b, "GET", &alice, "").ok(200);
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [keyservice_session_id(&second.session_token)]);

    // All of a user's, revoked through b, refused at a; bob's stays.
    let r = admin(&b, "DELETE", &alice, "");
    assert_eq!(
        r.ok(200),
        json!({"namespace": ns, "user_id": "alice", "revoked": 1})
    );
    assert_401(&key(&a, &second, "GET", b"", None), AUTH_FAILED);
    key(&a, &bob, "GET", b"", None).assert_error(404, "KEY_NOT_FOUND");

    // All of the namespace's, revoked through a, refused at b; the key is still there for a new
    // session.
    let r = admin(
        &a,
        "DELETE",
        &format!("/admin/namespaces/{ns}/sessions"),
        "",
    );
    assert_eq!(r.ok(200), json!({"namespace": ns, "revoked": 1}));
    assert_401(&key(&b, &bob, "GET", b"", None), AUTH_FAILED);
    let again = session(&b, &ns, &secret, "alice");
    assert_eq!(key(&a, &again, "GET", b"", None).body, b"alice's key");
}

/// The overlap under test: short, so the test waits it out; long enough for four connects
/// through two hosts on a busy machine (checked, so a slow run fails loudly, not wrongly).
const OVERLAP: Duration = Duration::from_secs(3);

#[test]
fn keyservice_a_rotation_overlap_holds_on_both_hosts_and_then_ends() {
    let (_state, a, b) = two_hosts(scenario_host);
    let ns = unique("overlap");
    let old = create_namespace(&a, &ns, &[]);
    let before = session(&a, &ns, &old, "alice");
    assert_eq!(key(&a, &before, "PUT", b"alice's key", None).status, 204);

    let body = json!({"overlap_seconds": OVERLAP.as_secs(), "revoke_sessions": true}).to_string();
    let sent = Instant::now();
    let r = admin(
        &b,
        "POST",
        &format!("/admin/namespaces/{ns}/rotate-secret"),
        &body,
    );
    let answered = Instant::now();
    let new = token_in(&r, 200, "secret");
    assert_eq!(r.json()["sessions_revoked"], 1, "{}", r.text());
    assert!(
        r.json()["previous_secret_expires_at"].is_string(),
        "{}",
        r.text()
    );

    // Within the window both secrets open sessions at both hosts; the sessions from before the
    // rotation are gone at both.
    for host in [&a, &b] {
        assert_401(&key(host, &before, "GET", b"", None), AUTH_FAILED);
        assert_eq!(keyservice_connects(host, &ns, &old), 200);
        assert_eq!(keyservice_connects(host, &ns, &new), 200);
    }
    assert!(
        sent.elapsed() < OVERLAP,
        "the in-window checks took {:?}, longer than the overlap: they proved nothing",
        sent.elapsed()
    );
    let during = session(&a, &ns, &old, "alice");
    assert_eq!(key(&b, &during, "GET", b"", None).body, b"alice's key");

    // The host set the expiry after `sent` and before `answered`: past `answered + OVERLAP`
    // (plus a margin for the two clocks' rounding) only the new secret connects, at both hosts.
    std::thread::sleep(
        (answered + OVERLAP + Duration::from_millis(500)).saturating_duration_since(Instant::now()),
    );
    for host in [&a, &b] {
        assert_eq!(keyservice_connects(host, &ns, &old), 401);
        assert_eq!(keyservice_connects(host, &ns, &new), 200);
    }
    // A session opened with the old secret during the overlap lives on (only a revocation ends
    // sessions).
    assert_eq!(key(&b, &during, "GET", b"", None).body, b"alice's key");
}
