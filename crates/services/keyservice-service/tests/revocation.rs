//! Revocation (docs/keyservice.md, "Design: revoking sessions" and "Design: rotating a namespace
//! secret"): the operator lists and revokes sessions, and rotates a namespace secret with an
//! overlap window, on a real SQLite file with the harness's fake clock.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

/// A user id as a path segment: every byte but the unreserved ones percent-encoded.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sessions_path(ns: &str, user: &str) -> String {
    format!("/admin/namespaces/{ns}/users/{}/sessions", encode(user))
}

/// The id the operator API shows for a session: the first 16 hex digits of its row key.
fn id_of(s: &Session) -> String {
    let digest = sha2::Sha256::digest(s.session_token.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn listed(h: &Harness, ns: &str, user: &str) -> Vec<Value> {
    let r = h.admin("GET", &sessions_path(ns, user), "");
    let v = r.ok(200);
    assert_eq!(v["namespace"], ns);
    assert_eq!(v["user_id"], user);
    v["sessions"].as_array().expect("sessions").clone()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The session can still read the user's key (200, or 404 with nothing stored).
fn alive(h: &Harness, s: &Session) -> bool {
    let r = h.key(s, "GET", b"");
    match r.status {
        200 | 404 => true,
        401 => false,
        other => panic!("GET /key: {other} {}", r.text()),
    }
}

/// A request with exactly `headers` (no bearer unless given).
fn call(h: &Harness, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let d: &dyn keyward_test_kit::Driver = &h.driver;
    d.call(method, path, headers, b"")
}

fn rotate(h: &Harness, ns: &str, body: &str) -> Reply {
    h.admin(
        "POST",
        &format!("/admin/namespaces/{ns}/rotate-secret"),
        body,
    )
}

/// `/connect` with `secret` for a fresh init token: its status.
fn connects(h: &Harness, ns: &str, secret: &str) -> u16 {
    let hash = ks::init_hash(&h.init());
    h.connect(ns, secret, "someone", &hash).status
}

#[test]
fn a_users_sessions_are_listed_by_id_and_times_only() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    // A user id with a slash, a percent sign, a space and non-ASCII: percent-encoded in the path.
    let user = "ünï/c%de user";
    let first = h.session("ns", &secret, user);
    h.advance_secs(10);
    let second = h.session("ns", &secret, user);
    let other = h.session("ns", &secret, "bob");
    h.advance_secs(5);
    assert_eq!(h.key(&second, "PUT", b"value").status, 204);

    let r = h.admin("GET", &sessions_path("ns", user), "");
    let text = r.text();
    for s in [&first, &second] {
        assert!(!text.contains(&s.session_token), "a session token: {text}");
        assert!(!text.contains(&s.init_token), "an init token: {text}");
    }
    let list = listed(&h, "ns", user);
    assert_eq!(ids(&list), [id_of(&first), id_of(&second)], "oldest first");
    assert!(
        !ids(&list).contains(&id_of(&other)),
        "bob's session is not alice's"
    );
    assert_eq!(
        list[1],
        json!({
            "id": id_of(&second),
            "created_at": "2026-12-01T10:00:10Z",
            "expires_at": "2026-12-02T10:00:10Z",
            "last_used_at": "2026-12-01T10:00:15Z",
        })
    );
    assert_eq!(list[0]["last_used_at"], "2026-12-01T10:00:00Z");

    // Only sessions that can still sign are listed: past the TTL, or idle too long, they are not.
    h.set_var("session_idle_seconds", "30");
    h.advance_secs(20);
    assert_eq!(ids(&listed(&h, "ns", user)), [id_of(&second)]);
    h.unset_var("session_idle_seconds");
    h.advance_secs(86_400);
    assert!(listed(&h, "ns", user).is_empty());
}

#[test]
fn revoking_one_session_refuses_it_at_once_and_keeps_the_others() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let a = h.session("ns", &secret, "alice");
    let b = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&a, "PUT", b"alice's key").status, 204);

    let path = format!("{}/{}", sessions_path("ns", "alice"), id_of(&a));
    let r = h.admin("DELETE", &path, "");
    assert_eq!(r.status, 204, "{}", r.text());
    h.key(&a, "GET", b"").assert_error(401, "AUTH_INVALID");
    assert_eq!(
        h.key(&b, "GET", b"").body,
        b"alice's key",
        "the value stays"
    );
    assert_eq!(ids(&listed(&h, "ns", "alice")), [id_of(&b)]);

    // Again: gone. The id in capitals names the same session.
    h.admin("DELETE", &path, "")
        .assert_error(404, "SESSION_NOT_FOUND");
    let upper = format!(
        "{}/{}",
        sessions_path("ns", "alice"),
        id_of(&b).to_uppercase()
    );
    assert_eq!(h.admin("DELETE", &upper, "").status, 204);
    assert!(!alive(&h, &b));
}

#[test]
fn revoking_a_user_ends_all_of_their_sessions_and_no_one_elses() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let a1 = h.session("ns", &secret, "alice");
    let a2 = h.session("ns", &secret, "alice");
    let bob = h.session("ns", &secret, "bob");
    let carol = h.session("ns", &secret, "carol");
    assert_eq!(h.key(&a1, "PUT", b"alice's key").status, 204);

    let r = h.admin("DELETE", &sessions_path("ns", "alice"), "");
    assert_eq!(
        r.ok(200),
        json!({"namespace": "ns", "user_id": "alice", "revoked": 2})
    );
    assert!(!alive(&h, &a1) && !alive(&h, &a2));
    assert!(alive(&h, &bob));
    // Alice is still known by her stored key: her list is empty, a second revocation revokes
    // nothing, and a new session reads the key.
    assert!(listed(&h, "ns", "alice").is_empty());
    let r = h.admin("DELETE", &sessions_path("ns", "alice"), "");
    assert_eq!(r.ok(200)["revoked"], 0);
    let again = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&again, "GET", b"").body, b"alice's key");

    // Carol stored nothing: once her sessions are gone, keyservice knows no carol.
    assert_eq!(
        h.admin("DELETE", &sessions_path("ns", "carol"), "").ok(200)["revoked"],
        1
    );
    assert!(!alive(&h, &carol));
    h.admin("GET", &sessions_path("ns", "carol"), "")
        .assert_error(404, "USER_NOT_FOUND");
}

#[test]
fn revoking_a_namespace_ends_its_sessions_and_keeps_its_keys_and_secret() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let other_secret = h.create_namespace("other", &[]);
    let a = h.session("ns", &secret, "alice");
    let b = h.session("ns", &secret, "bob");
    let o = h.session("other", &other_secret, "alice");
    assert_eq!(h.key(&a, "PUT", b"alice's key").status, 204);

    let r = h.admin("DELETE", "/admin/namespaces/ns/sessions", "");
    assert_eq!(r.ok(200), json!({"namespace": "ns", "revoked": 2}));
    assert!(!alive(&h, &a) && !alive(&h, &b));
    assert!(alive(&h, &o), "another namespace keeps its sessions");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM ks_session WHERE namespace = 'ns'"),
        0
    );
    // The secret still opens sessions, and they read the stored key.
    let again = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&again, "GET", b"").body, b"alice's key");
    let r = h.admin("DELETE", "/admin/namespaces/other/sessions", "");
    assert_eq!(r.ok(200)["revoked"], 1);
}

#[test]
fn unknown_names_bad_ids_and_missing_tokens_are_refused_with_a_way_forward() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    let alice = sessions_path("ns", "alice");
    let one = format!("{alice}/{}", id_of(&s));

    for (method, path) in [
        ("GET", sessions_path("nope", "alice")),
        ("DELETE", sessions_path("nope", "alice")),
        (
            "DELETE",
            format!("{}/{}", sessions_path("nope", "alice"), id_of(&s)),
        ),
        ("DELETE", "/admin/namespaces/nope/sessions".to_owned()),
        ("DELETE", "/admin/namespaces/a%7Cb/sessions".to_owned()),
    ] {
        let r = h.admin(method, &path, "");
        r.assert_error(404, "NAMESPACE_NOT_FOUND");
        assert!(
            r.message().contains("GET /admin/namespaces"),
            "{method} {path}"
        );
    }
    let too_long = "u".repeat(257);
    for user in ["mallory", "alice ", "ALICE", too_long.as_str(), "a\u{1}b"] {
        for method in ["GET", "DELETE"] {
            let r = h.admin(method, &sessions_path("ns", user), "");
            r.assert_error(404, "USER_NOT_FOUND");
            assert!(r.message().contains("percent-encoded"), "{}", r.message());
        }
    }
    for id in [
        "0123456789abcdef",
        "xyz",
        "0123456789abcdef0",
        &id_of(&s)[..15],
    ] {
        let r = h.admin("DELETE", &format!("{alice}/{id}"), "");
        r.assert_error(404, "SESSION_NOT_FOUND");
        assert!(r.message().contains("lists their session ids"), "{id}");
    }
    // A segment that is not percent-encoded UTF-8 matches no route.
    h.admin("GET", &sessions_path("ns", "x").replace("/x/", "/%FF/"), "")
        .assert_error(404, "NOT_FOUND");
    let r = h.admin("POST", &alice, "");
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, DELETE"));
    let r = h.admin("GET", "/admin/namespaces/ns/sessions", "");
    assert_eq!(r.header("allow"), Some("DELETE"));

    // No token, or a wrong one: 401 before anything is looked up; nothing was revoked.
    for auth in [None, Some("Bearer wrong"), Some("Basic x")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        for (method, path) in [
            ("GET", alice.as_str()),
            ("DELETE", alice.as_str()),
            ("DELETE", one.as_str()),
            ("DELETE", "/admin/namespaces/ns/sessions"),
            ("POST", "/admin/namespaces/ns/rotate-secret"),
        ] {
            let r = call(&h, method, path, &headers);
            r.assert_error(401, "AUTH_INVALID");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert!(alive(&h, &s));
    assert_eq!(
        connects(&h, "ns", &secret),
        200,
        "the secret was not rotated"
    );

    h.unset_var("admin_token");
    h.admin("DELETE", "/admin/namespaces/ns/sessions", "")
        .assert_error(403, "ADMIN_DISABLED");
}

#[test]
fn the_old_secret_connects_during_the_overlap_and_never_after() {
    let h = Harness::new();
    let old = h.create_namespace("ns", &[]);
    let s = h.session("ns", &old, "alice");
    let r = rotate(&h, "ns", r#"{"overlap_seconds": 60}"#);
    let new = ks::token_in(&r, 200, "secret");
    assert_eq!(
        r.json(),
        json!({
            "namespace": "ns",
            "secret": new,
            "previous_secret_expires_at": "2026-12-01T10:01:00Z",
            "sessions_revoked": 0,
        })
    );
    assert!(alive(&h, &s), "sessions stay");

    assert_eq!(connects(&h, "ns", &old), 200);
    assert_eq!(connects(&h, "ns", &new), 200);
    h.advance_secs(59);
    assert_eq!(connects(&h, "ns", &old), 200, "one second before the end");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM ks_namespace_previous_secret"),
        1
    );
    h.advance_secs(1);
    h.connect("ns", &old, "someone", &ks::init_hash(&h.init()))
        .assert_error_message(401, "AUTH_INVALID", ks::AUTH_FAILED);
    assert_eq!(connects(&h, "ns", &new), 200);
    // The /connect that met the expired secret removed it.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM ks_namespace_previous_secret"),
        0
    );
    h.advance_secs(-30);
    assert_eq!(connects(&h, "ns", &old), 401, "gone, not only expired");

    // The secret a rotation replaces is the only one kept: a second rotation during an overlap
    // ends the first secret's overlap at once.
    h.advance_secs(30);
    let second = ks::token_in(
        &rotate(&h, "ns", r#"{"overlap_seconds": 60}"#),
        200,
        "secret",
    );
    let third = ks::token_in(
        &rotate(&h, "ns", r#"{"overlap_seconds": 60}"#),
        200,
        "secret",
    );
    assert_eq!(connects(&h, "ns", &new), 401);
    assert_eq!(connects(&h, "ns", &second), 200);
    assert_eq!(connects(&h, "ns", &third), 200);
}

#[test]
fn a_rotation_without_an_overlap_ends_every_earlier_secret_at_once() {
    for body in ["", "{}", "  \n", r#"{"overlap_seconds": 0}"#] {
        let h = Harness::new();
        let first = h.create_namespace("ns", &[]);
        let second = ks::token_in(
            &rotate(&h, "ns", r#"{"overlap_seconds": 600}"#),
            200,
            "secret",
        );
        assert_eq!(connects(&h, "ns", &first), 200);
        let r = rotate(&h, "ns", body);
        let third = ks::token_in(&r, 200, "secret");
        assert!(r.json()["previous_secret_expires_at"].is_null(), "{body:?}");
        assert_eq!(connects(&h, "ns", &first), 401, "{body:?}");
        assert_eq!(connects(&h, "ns", &second), 401, "{body:?}");
        assert_eq!(connects(&h, "ns", &third), 200, "{body:?}");
        assert_eq!(
            h.count("SELECT COUNT(*) FROM ks_namespace_previous_secret"),
            0
        );
    }
}

#[test]
fn a_rotation_can_revoke_every_session_of_the_namespace() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let other_secret = h.create_namespace("other", &[]);
    let a = h.session("ns", &secret, "alice");
    let b = h.session("ns", &secret, "bob");
    let o = h.session("other", &other_secret, "alice");
    assert_eq!(h.key(&a, "PUT", b"alice's key").status, 204);

    let r = rotate(
        &h,
        "ns",
        r#"{"overlap_seconds": 3600, "revoke_sessions": true}"#,
    );
    let new = ks::token_in(&r, 200, "secret");
    assert_eq!(r.json()["sessions_revoked"], 2);
    assert!(!alive(&h, &a) && !alive(&h, &b));
    assert!(alive(&h, &o));
    // The old secret still opens new sessions during the overlap, and they read the key.
    let again = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&again, "GET", b"").body, b"alice's key");
    assert_eq!(connects(&h, "ns", &new), 200);

    let r = rotate(&h, "ns", r#"{"revoke_sessions": false}"#);
    assert_eq!(r.json()["sessions_revoked"], 0);
    assert!(alive(&h, &again));
}

#[test]
fn rotation_bodies_are_checked_before_anything_changes() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    let bound = "overlap_seconds must be a whole number of seconds from 0 to 604800 (7 days); \
                 0 or no body ends the old secret at once";
    for body in [
        r#"{"overlap_seconds": -1}"#,
        r#"{"overlap_seconds": 604801}"#,
        r#"{"overlap_seconds": 1.5}"#,
        r#"{"overlap_seconds": "60"}"#,
        r#"{"overlap_seconds": 1e30}"#,
    ] {
        rotate(&h, "ns", body).assert_error_message(400, "BAD_REQUEST", bound);
    }
    for (body, message) in [
        (
            r#"{"overlap": 60}"#,
            "request body has missing, unknown or mistyped fields",
        ),
        (
            r#"{"revoke_sessions": "yes"}"#,
            "request body has missing, unknown or mistyped fields",
        ),
        (
            r#"{"overlap_seconds": 60"#,
            "request body is not valid JSON",
        ),
        ("[60, true]", "request body must be a JSON object"),
        ("60", "request body must be a JSON object"),
    ] {
        rotate(&h, "ns", body).assert_error_message(400, "BAD_REQUEST", message);
    }
    assert_eq!(connects(&h, "ns", &secret), 200, "nothing was rotated");
    assert!(alive(&h, &s));
    rotate(&h, "nope", r#"{"overlap_seconds": 60}"#).assert_error(404, "NAMESPACE_NOT_FOUND");
    rotate(&h, "nope", r#"{"overlap_seconds": -1}"#).assert_error(400, "BAD_REQUEST");

    // The bound itself is accepted.
    let r = rotate(&h, "ns", r#"{"overlap_seconds": 604800}"#);
    assert_eq!(
        r.ok(200)["previous_secret_expires_at"],
        "2026-12-08T10:00:00Z"
    );
}

#[test]
fn the_previous_secret_is_sealed_under_its_own_aad() {
    let h = Harness::new();
    let old = h.create_namespace("ns", &[]);
    let new = ks::token_in(
        &rotate(&h, "ns", r#"{"overlap_seconds": 60}"#),
        200,
        "secret",
    );
    assert!(
        !h.at_rest().windows(old.len()).any(|w| w == old.as_bytes()),
        "the previous secret is stored in plaintext"
    );
    let current_ct = h
        .sql("SELECT secret_ct FROM ks_namespace", &[])
        .first()
        .and_then(|r| r.text(0).map(str::to_owned))
        .unwrap();
    let previous_ct = h
        .sql("SELECT secret_ct FROM ks_namespace_previous_secret", &[])
        .first()
        .and_then(|r| r.text(0).map(str::to_owned))
        .unwrap();
    let set = |table: &str, ct: &str| {
        h.sql(&format!("UPDATE {table} SET secret_ct = ?"), &[ct.into()]);
    };

    // Swapped into each other's place, neither opens: 500, never a secret accepted.
    set("ks_namespace", &previous_ct);
    assert_eq!(connects(&h, "ns", &old), 500);
    set("ks_namespace", &current_ct);
    set("ks_namespace_previous_secret", &current_ct);
    assert_eq!(connects(&h, "ns", &new), 500);
    set("ks_namespace_previous_secret", &previous_ct);
    assert_eq!(connects(&h, "ns", &old), 200);
    // A writer who moves the expiry does not extend the overlap.
    h.sql(
        "UPDATE ks_namespace_previous_secret SET expires_at = expires_at + 3600000",
        &[],
    );
    assert_eq!(connects(&h, "ns", &old), 500);
}

#[test]
fn each_operation_is_audited_without_a_secret() {
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let s = h.session("ns", &secret, "alice");
    assert_eq!(h.key(&s, "PUT", b"alice's key").status, 204);
    let from = keyward_test_kit::audit::records(&h.db()).len();

    h.admin("GET", &sessions_path("ns", "alice"), "");
    h.admin(
        "DELETE",
        &format!("{}/{}", sessions_path("ns", "alice"), id_of(&s)),
        "",
    );
    h.admin("DELETE", &sessions_path("ns", "alice"), "");
    h.admin("GET", &sessions_path("ns", "mallory"), "");
    h.admin("DELETE", "/admin/namespaces/ns/sessions", "");
    call(&h, "DELETE", "/admin/namespaces/ns/sessions", &[]);
    let r = rotate(
        &h,
        "ns",
        r#"{"overlap_seconds": 60, "revoke_sessions": true}"#,
    );
    let new = ks::token_in(&r, 200, "secret");
    rotate(&h, "ns", r#"{"overlap_seconds": 1e9}"#);
    let init_token = h.init();
    let hash = ks::init_hash(&init_token);
    assert_eq!(h.connect("ns", &secret, "bob", &hash).status, 200);
    let init_digest = sha2::Sha512::digest(init_token.as_bytes());
    let init_object: String = init_digest[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let records = keyward_test_kit::audit::records(&h.db());
    let got: Vec<(String, String, String, String, Value)> = records
        .iter()
        .skip(from)
        .filter(|(r, _)| r.action != "init_token.issue")
        .map(|(r, _)| {
            (
                r.action.clone(),
                r.code.clone(),
                r.actor.clone(),
                r.object.clone(),
                serde_json::from_str(&r.details).unwrap(),
            )
        })
        .collect();
    let alice = "namespace=ns user=alice".to_owned();
    let row = |action: &str, code: &str, actor: &str, object: &str, details: Value| {
        (
            action.to_owned(),
            code.to_owned(),
            actor.to_owned(),
            object.to_owned(),
            details,
        )
    };
    assert_eq!(
        got,
        [
            row("session.list", "", "admin", &alice, json!({"sessions": 1})),
            row(
                "session.revoke",
                "",
                "admin",
                &alice,
                json!({"session": id_of(&s)})
            ),
            row(
                "session.revoke_user",
                "",
                "admin",
                &alice,
                json!({"revoked": 0})
            ),
            row(
                "session.list",
                "USER_NOT_FOUND",
                "admin",
                "namespace=ns user=mallory",
                json!({})
            ),
            row(
                "session.revoke_namespace",
                "",
                "admin",
                "ns",
                json!({"revoked": 0})
            ),
            row(
                "session.revoke_namespace",
                "AUTH_INVALID",
                "",
                "ns",
                json!({})
            ),
            row(
                "namespace.rotate_secret",
                "",
                "admin",
                "ns",
                json!({"overlap_seconds": 60, "revoke_sessions": true, "sessions_revoked": 0})
            ),
            row(
                "namespace.rotate_secret",
                "BAD_REQUEST",
                "admin",
                "ns",
                json!({})
            ),
            row(
                "session.connect",
                "",
                "namespace=ns user=bob",
                &format!("init_token:{init_object}"),
                json!({"secret": "previous"})
            ),
        ]
    );
    let trail: String = records
        .iter()
        .map(|(r, mac)| format!("{r:?}{mac}"))
        .collect();
    for secret in [
        secret.as_str(),
        new.as_str(),
        &s.session_token,
        &s.init_token,
        ADMIN_TOKEN,
    ] {
        assert!(!trail.contains(secret), "a secret reached the audit trail");
    }
}

#[test]
fn the_openapi_document_describes_the_revocation_routes() {
    let doc: Value = serde_json::from_str(keyservice_service::OPENAPI_JSON).unwrap();
    for (path, method) in [
        ("/admin/namespaces/{ns}/sessions", "delete"),
        ("/admin/namespaces/{ns}/users/{user}/sessions", "get"),
        ("/admin/namespaces/{ns}/users/{user}/sessions", "delete"),
        (
            "/admin/namespaces/{ns}/users/{user}/sessions/{id}",
            "delete",
        ),
        ("/admin/namespaces/{ns}/rotate-secret", "post"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op["responses"]["404"].is_object(), "{method} {path}");
        assert_eq!(
            op["security"][0]["adminBearer"],
            json!([]),
            "{method} {path}"
        );
    }
    let body = &doc["components"]["schemas"]["RotateSecretRequest"]["properties"];
    assert_eq!(body["overlap_seconds"]["maximum"], 604_800);
    let rotate = &doc["paths"]["/admin/namespaces/{ns}/rotate-secret"]["post"]["responses"];
    assert!(
        rotate["409"]["description"]
            .as_str()
            .unwrap()
            .contains("ROTATION_CONFLICT")
    );
}

#[test]
fn a_database_from_before_revocation_gets_its_new_table_on_the_next_request() {
    let h = Harness::new();
    let old = h.create_namespace("ns", &[]);
    let s = h.session("ns", &old, "alice");
    // The schema as the previous release left it: its marker, no previous-secret table, no index
    // by user.
    h.sql("DROP TABLE ks_namespace_previous_secret", &[]);
    h.sql("DROP INDEX ks_session_user", &[]);
    h.sql("DROP TABLE IF EXISTS ks_schema_2", &[]);
    h.sql(
        "CREATE TABLE IF NOT EXISTS ks_schema_1 (complete INTEGER NOT NULL)",
        &[],
    );

    let new = ks::token_in(
        &rotate(&h, "ns", r#"{"overlap_seconds": 60}"#),
        200,
        "secret",
    );
    assert_eq!(connects(&h, "ns", &old), 200);
    assert_eq!(connects(&h, "ns", &new), 200);
    assert_eq!(ids(&listed(&h, "ns", "alice")), [id_of(&s)]);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ks_session_user'"),
        1
    );
}
