//! The audit trail end to end (docs/OPERATIONS.md, "Audit trail"): requests over HTTP to the real
//! components under `keyward serve`, then `keyward audit verify` / `export` over the same manifest,
//! runtime config and state. Runs on both passes: embedded SQLite, then PostgreSQL.

use keyward_e2e::db::{ServiceDb, Val};
use keyward_e2e::keyservice::{self as ks, ADMIN_TOKEN, Session};
use keyward_e2e::{Backend, Host, TEST_MASTER_KEY, race};
use serde_json::Value;

/// Every exported record of `service`.
fn export(h: &Host, service: &str) -> Vec<Value> {
    let (ok, out) = h.audit(&["export", "--service", service]);
    assert!(ok, "export: {out}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn verify(h: &Host) -> (bool, String) {
    h.audit(&["verify"])
}

/// (action, outcome, code, actor) of records.
fn summary(records: &[Value]) -> Vec<(String, String, String, String)> {
    records
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (f("action"), f("outcome"), f("code"), f("actor"))
        })
        .collect()
}

fn row(action: &str, outcome: &str, code: &str, actor: &str) -> (String, String, String, String) {
    (action.into(), outcome.into(), code.into(), actor.into())
}

/// The keyservice flow: operator, /init, /connect, /key store, read, forged read, delete.
fn keyservice_flow(h: &Host) -> (String, Session) {
    let secret = ks::create_namespace(&h.base, "audited");
    let s = ks::session(&h.base, "audited", &secret, "alice");
    assert_eq!(
        ks::key(&h.base, &s, "PUT", b"audited-key-bytes").status,
        204
    );
    assert_eq!(ks::key(&h.base, &s, "GET", b"").status, 200);
    let forged = Session {
        token: s.token.clone(),
        init_token: "not-the-init-token".into(),
    };
    assert_eq!(ks::key(&h.base, &forged, "GET", b"").status, 401);
    assert_eq!(ks::key(&h.base, &s, "DELETE", b"").status, 204);
    (secret, s)
}

#[test]
fn each_keyservice_action_leaves_one_record_and_the_chain_verifies() {
    let h = ks::host().start();
    let (secret, s) = keyservice_flow(&h);
    let records = export(&h, "keyservice");
    let alice = "namespace=audited user=alice";
    assert_eq!(
        summary(&records),
        [
            row("namespace.create", "success", "", "admin"),
            row("init_token.issue", "success", "", "anonymous"),
            row("session.connect", "success", "", alice),
            row("key.store", "success", "", alice),
            row("key.read", "success", "", alice),
            row("key.read", "failure", "AUTH_INVALID", ""),
            row("key.delete", "success", "", alice),
        ]
    );
    for r in &records {
        assert_eq!(r["client"], "127.0.0.1");
        assert!(r["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(r["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    // Each record's request id is the one the host's access log printed for that request.
    for r in &records {
        let id = r["request_id"].as_str().unwrap_or_default();
        let field = format!("request_id=\"{id}\"");
        assert!(
            h.log_line(|l| l.contains(&field)).is_some(),
            "{id} not in the access log"
        );
    }
    // The init token's record and the connect that consumed it name the same digest prefix.
    assert_eq!(records[1]["object"], records[2]["object"]);

    let (ok, out) = verify(&h);
    assert!(ok, "{out}");
    assert!(out.contains("7 records, chain intact"), "{out}");

    // No secret of the run is anywhere in the export.
    let (_, all) = h.audit(&["export"]);
    for secret in [
        secret.as_str(),
        &s.token,
        &s.init_token,
        "audited-key-bytes",
        ADMIN_TOKEN,
        TEST_MASTER_KEY,
    ] {
        assert!(!all.contains(secret), "a secret reached the audit trail");
    }
}

/// The record `seq` of keyservice's chain, as stored.
fn stored(db: &mut ServiceDb, seq: i64) -> Vec<Val> {
    db.rows(
        "SELECT seq, time_ms, request_id, service, action, outcome, code, actor, client, object, \
         details, key_id, mac FROM audit_log WHERE seq = ?",
        &[Val::Int(seq)],
    )
    .pop()
    .expect("the record")
}

fn insert(db: &mut ServiceDb, values: Vec<Val>) {
    db.execute(
        "INSERT INTO audit_log (seq, time_ms, request_id, service, action, outcome, code, actor, \
         client, object, details, key_id, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &values,
    );
}

fn assert_broken_at(h: &Host, seq: i64, what: &str) {
    let (ok, out) = verify(h);
    assert!(!ok, "verify passed after {what}: {out}");
    assert!(out.contains(&format!("record {seq} ")), "{what}: {out}");
}

#[test]
fn verify_names_the_record_after_each_kind_of_tampering() {
    let h = ks::host().start();
    keyservice_flow(&h);
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    assert!(verify(&h).0);

    // A modified field.
    db.execute(
        "UPDATE audit_log SET actor = 'namespace=audited user=mallory' WHERE seq = 4",
        &[],
    );
    assert_broken_at(&h, 4, "a modified field");
    db.execute(
        "UPDATE audit_log SET actor = 'namespace=audited user=alice' WHERE seq = 4",
        &[],
    );
    assert!(verify(&h).0, "restored");

    // A deleted record.
    let fifth = stored(&mut db, 5);
    db.execute("DELETE FROM audit_log WHERE seq = 5", &[]);
    assert_broken_at(&h, 5, "a deleted record");
    insert(&mut db, fifth.clone());
    assert!(verify(&h).0, "restored");

    // Two records swapped: each takes the other's place (and number).
    let sixth = stored(&mut db, 6);
    db.execute("DELETE FROM audit_log WHERE seq IN (5, 6)", &[]);
    let mut moved_fifth = fifth.clone();
    moved_fifth[0] = Val::Int(6);
    let mut moved_sixth = sixth.clone();
    moved_sixth[0] = Val::Int(5);
    insert(&mut db, moved_fifth);
    insert(&mut db, moved_sixth);
    assert_broken_at(&h, 5, "two swapped records");
    db.execute("DELETE FROM audit_log WHERE seq IN (5, 6)", &[]);
    insert(&mut db, fifth.clone());
    insert(&mut db, sixth);
    assert!(verify(&h).0, "restored");

    // An inserted record: a copy of record 2 made record 3, the rest moved up by one.
    db.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3", &[]);
    db.execute("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103", &[]);
    let mut forged = stored(&mut db, 2);
    forged[0] = Val::Int(3);
    insert(&mut db, forged);
    assert_broken_at(&h, 3, "an inserted record");
}

#[test]
fn records_removed_from_the_end_show_in_the_head() {
    let h = ks::host().start();
    keyservice_flow(&h);
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    db.execute("DELETE FROM audit_log WHERE seq = 7", &[]);
    let (ok, out) = verify(&h);
    assert!(!ok && out.contains("removed from the end"), "{out}");
}

/// A trigger that refuses every new audit record, on this pass's backend.
fn refuse_audit_records(db: &mut ServiceDb) {
    match Backend::from_env() {
        Backend::Embedded => {
            db.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit storage refused'); END",
                &[],
            );
        }
        Backend::ScaleOut { .. } => {
            db.execute(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit storage refused'; END $$",
                &[],
            );
            db.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
                &[],
            );
        }
    }
}

#[test]
fn an_action_whose_record_cannot_be_written_fails_and_changes_nothing() {
    let h = ks::host().start();
    let secret = ks::create_namespace(&h.base, "audited");
    let s = ks::session(&h.base, "audited", &secret, "alice");
    assert_eq!(ks::key(&h.base, &s, "PUT", b"first").status, 204);
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    refuse_audit_records(&mut db);

    let r = ks::key(&h.base, &s, "PUT", b"second");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "AUDIT_UNAVAILABLE");
    let r = ks::key(&h.base, &s, "GET", b"");
    assert_eq!(r.status, 503, "no unaudited read: {}", r.text());
    assert!(
        !String::from_utf8_lossy(&r.body).contains("first"),
        "the key was not returned"
    );

    let drop = match Backend::from_env() {
        Backend::Embedded => "DROP TRIGGER refuse_audit",
        Backend::ScaleOut { .. } => "DROP TRIGGER refuse_audit ON audit_log",
    };
    db.execute(drop, &[]);
    let r = ks::key(&h.base, &s, "GET", b"");
    assert_eq!(r.body, b"first", "the refused PUT stored nothing");
    assert!(verify(&h).0);
}

#[test]
fn sixty_four_racers_over_two_hosts_keep_one_valid_chain() {
    let state = tempfile::tempdir().unwrap();
    let builder = || {
        ks::host()
            .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "0")
            .state_dir(state.path())
    };
    let a = builder().start();
    let b = builder().start();
    let secret = ks::create_namespace(&a.base, "racers");
    let bases = [a.base.clone(), b.base.clone()];
    let sessions: Vec<Session> = (0..8)
        .map(|i| ks::session(&bases[i % 2], "racers", &secret, &format!("user{i}")))
        .collect();
    let statuses = race(64, |i| {
        let s = &sessions[i % sessions.len()];
        ks::key(&bases[i % 2], s, "PUT", format!("value {i}").as_bytes()).status
    });
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let (ok, out) = verify(&a);
    assert!(ok, "{out}");
    // namespace, 8 × (init + connect), 64 writes.
    assert!(
        out.contains(&format!("{} records, chain intact", 1 + 16 + 64)),
        "{out}"
    );
}

/// The three services on one host, one flow each, then the whole export searched for every
/// secret the run used: no key, share, token, secret or password reaches the trail.
#[test]
fn no_secret_of_a_run_of_all_three_services_reaches_the_trail() {
    use keyward_e2e::{guardian as gd, shield as sh};
    let okta = gd::okta_stub();
    let h = keyward_e2e::product_host(okta.port).start();

    let (namespace_secret, session) = keyservice_flow(&h);

    let p = sh::register(&h, true);
    sh::pem_provider(&h, &p, &sh::rsa(), "rsa");
    let part = p.part.clone().expect("encryption part");
    let user_token = sh::tok(&sh::rsa(), "audited-shield-user");
    let share = sh::project_share("default", Some(&part), None);
    sh::ok(
        &sh::cu(&h, &p, &user_token, "POST", "/shares", &[], Some(share)),
        201,
    );
    let encryption_session = sh::session(&h, &p, &part);
    let read = sh::cu(
        &h,
        &p,
        &user_token,
        "GET",
        "/shares",
        &[("X-Encryption-Session", &encryption_session)],
        None,
    );
    assert_eq!(sh::ok(&read, 200)["secret"], "secret-default");

    let password = "correct-horse-battery-staple-4117";
    let login = gd::post(
        &h,
        "/guardian/login",
        None,
        &serde_json::json!({"okta_username": "auditee", "okta_password": password}),
    );
    let client_token = gd::token_of(&login);
    let signed = gd::post(
        &h,
        "/guardian/sign",
        Some(&client_token),
        &serde_json::json!({"raw_data": "ab".repeat(32)}),
    );
    assert_eq!(signed.status, 200, "{}", signed.text());
    let fresh_token = gd::fresh(&signed);
    let login = gd::post(
        &h,
        "/guardian/login",
        None,
        &serde_json::json!({"okta_username": "auditee", "okta_password": password}),
    );
    let export_token = gd::token_of(&login);
    let exported = gd::post(
        &h,
        "/guardian/export",
        Some(&export_token),
        &serde_json::json!({}),
    );
    assert_eq!(exported.status, 200, "{}", exported.text());
    let mnemonic = exported.json()["mnemonic"]
        .as_str()
        .expect("mnemonic")
        .to_owned();

    // Each action of shield's and guardian's flows: one record, its actor and outcome.
    let project = format!("project={}", p.id);
    let shield = summary(&export(&h, "shield"));
    let user = shield
        .iter()
        .find(|r| r.0 == "share.store")
        .map(|r| r.3.clone())
        .unwrap_or_default();
    assert!(user.starts_with(&format!("{project} user=")), "{shield:?}");
    assert_eq!(
        shield,
        [
            row("project.create", "success", "", "anonymous"),
            row("provider.add", "success", "", &project),
            row("share.store", "success", "", &user),
            row("encryption_session.create", "success", "", &project),
            row("share.read", "success", "", &user),
        ]
    );
    let auditee = "user=okta:00uauditee";
    assert_eq!(
        summary(&export(&h, "guardian")),
        [
            row("user.login", "success", "", auditee),
            row("sign.digest", "success", "", auditee),
            row("user.login", "success", "", auditee),
            row("key.export", "success", "", auditee),
        ]
    );

    let (ok, out) = verify(&h);
    assert!(ok, "{out}");
    let (_, trail) = h.audit(&["export"]);
    let services: std::collections::BTreeSet<String> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["service"].to_string())
        .collect();
    assert_eq!(services.len(), 3, "{services:?}");
    let actions: Vec<String> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["action"].to_string())
        .collect();
    for wanted in [
        "share.store",
        "share.read",
        "user.login",
        "sign.digest",
        "key.export",
    ] {
        assert!(
            actions.iter().any(|a| a.contains(wanted)),
            "no {wanted} record: {actions:?}"
        );
    }
    let secrets = [
        namespace_secret.as_str(),
        &session.token,
        &session.init_token,
        "audited-key-bytes",
        ADMIN_TOKEN,
        TEST_MASTER_KEY,
        &p.secret,
        &part,
        "secret-default",
        &user_token,
        &encryption_session,
        password,
        &client_token,
        &fresh_token,
        &export_token,
        &mnemonic,
    ];
    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            !trail.contains(secret),
            "secret #{i} reached the audit trail"
        );
    }
}
