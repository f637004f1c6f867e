//! guardian's logout and revocation (docs/guardian.md, "Design: logout and revocation") over two
//! hosts sharing one store: a chain ended through one host is refused by the other on the next
//! request, because the end is storage, not memory. Runs on both passes of `cargo xtask test`:
//! on the embedded backend the hosts share the SQLite file, on the scale-out pass PostgreSQL.

use keyward_e2e::db::ServiceDb;
use keyward_e2e::guardian as gd;
use keyward_e2e::{Host, HostBuilder, Resp, TEST_MASTER_KEY, Value, json};
use keyward_test_kit::scenarios::guardian::ADDR0;
use keyward_test_kit::secrets::HARDHAT_MNEMONIC as HARDHAT;

const ADMIN_TOKEN: &str = "admin-token-for-the-guardian-revocation-e2e";

/// guardian's product routes and grants against the Okta stub, with the maintainer API on and
/// room for many logins of one user from one address.
fn builder(okta: u16) -> HostBuilder {
    gd::builder(
        okta,
        1,
        &[
            ("admin_token", ADMIN_TOKEN),
            ("login_user_rate_limit_per_minute", "100"),
            ("login_rate_limit_per_minute", "100"),
        ],
    )
}

/// Two hosts on one state directory (on the scale-out pass: on the databases derived from it),
/// as the scale tests start them; the directory lives as long as the first value.
fn two_hosts(okta: u16) -> (tempfile::TempDir, Host, Host) {
    let state = tempfile::tempdir().unwrap();
    let a = builder(okta).state_dir(state.path()).start();
    let b = builder(okta).state_dir(state.path()).start();
    (state, a, b)
}

fn logout(h: &Host, token: &str, body: &Value) -> Resp {
    gd::post(h, "/guardian/logout", Some(token), body)
}

fn revoke(h: &Host, bearer: &str, user: &str) -> Resp {
    gd::post(
        h,
        "/guardian/revoke",
        Some(bearer),
        &json!({ "user": user }),
    )
}

/// One signing-route call with `token` succeeds at `h`; the fresh token.
#[track_caller]
fn works(h: &Host, token: &str) -> String {
    let r = gd::get(h, "/guardian/address", token);
    assert_eq!(r.status, 200, "{}", r.text());
    gd::fresh(&r)
}

/// `token` is refused at `h`: 401, and no fresh token.
#[track_caller]
fn refused(h: &Host, token: &str) {
    let j = gd::expect_error(&gd::get(h, "/guardian/address", token), 401, "AUTH_INVALID");
    assert!(j.get("fresh_client_token").is_none(), "{j}");
}

/// The body of a 200 that must carry no token.
#[track_caller]
fn ended(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    for field in ["client_token", "fresh_client_token"] {
        assert!(j.get(field).is_none(), "{j}");
    }
    j
}

/// A second valid token in the chain of `token`, stored as a request under way in that chain
/// would store its fresh token (the only way a chain holds two valid tokens at once).
fn sibling(db: &mut ServiceDb, token: &str) -> String {
    let hash = guardian_service::store::digest_hex(token);
    let rows = db.rows(
        "SELECT user_id, chain_started_at, chain_id FROM gd_token WHERE token_hash = ?1",
        &[hash.into()],
    );
    let row = rows.first().expect("the token's row");
    let text = |i: usize| row[i].text().expect("text").to_owned();
    let started = row[1].int().expect("chain start");
    let now = now_ms();
    let sibling: String = std::iter::repeat_n('S', 43).collect();
    db.execute(
        "INSERT INTO gd_token (token_hash, user_id, kind, issued_at, expires_at, \
         chain_started_at, chain_id) VALUES (?1, ?2, 'fresh', ?3, ?4, ?5, ?6)",
        &[
            guardian_service::store::digest_hex(&sibling).into(),
            text(0).into(),
            now.into(),
            (now + 900_000).into(),
            started.into(),
            text(2).into(),
        ],
    );
    sibling
}

#[test]
fn a_chain_logged_out_at_one_host_is_refused_at_the_other() {
    let okta = gd::okta_stub();
    let (state, a, b) = two_hosts(okta.port);
    let mut db = ServiceDb::open(state.path(), "guardian");
    // One chain begun at a and continued at b, with a second token under way; a second chain
    // of the same user begun at b.
    let t0 = gd::token_of(&gd::login(&a, "alice"));
    let t1 = works(&b, &t0);
    let t1_sibling = sibling(&mut db, &t1);
    let u0 = gd::token_of(&gd::login(&b, "alice"));

    let r = logout(&a, &t1, &json!({}));
    // The next request at the other host: every token of the chain is refused, and so is a
    // second logout.
    refused(&b, &t1_sibling);
    refused(&b, &t1);
    gd::expect_error(&logout(&b, &t1, &json!({})), 401, "AUTH_INVALID");
    refused(&a, &t0);
    assert_eq!(ended(&r), json!({"chains_ended": 1, "tokens_ended": 2}));
    // The user's other chain goes on, at either host.
    let u1 = works(&a, &u0);
    works(&b, &u1);
}

#[test]
fn every_chain_of_a_user_ended_at_one_host_is_refused_at_the_other() {
    let okta = gd::okta_stub();
    let (_state, a, b) = two_hosts(okta.port);
    // The user's own logout of all chains, at b.
    let c1 = gd::token_of(&gd::login(&a, "alice"));
    let c2 = works(&a, &gd::token_of(&gd::login(&b, "alice")));
    let c3 = gd::token_of(&gd::login(&a, "alice"));
    let bob = gd::token_of(&gd::login(&a, "bob"));
    let r = logout(&b, &c1, &json!({"all": true}));
    refused(&a, &c2);
    refused(&a, &c3);
    assert_eq!(ended(&r), json!({"chains_ended": 3, "tokens_ended": 3}));
    let bob = works(&b, &bob);

    // The maintainer's revocation, at a: it ends chains begun at both hosts and hands out no
    // token.
    let d = gd::token_of(&gd::login(&a, "alice"));
    let e = works(&a, &gd::token_of(&gd::login(&b, "alice")));
    gd::expect_error(&revoke(&a, "wrong", "okta:00ualice"), 401, "AUTH_INVALID");
    gd::expect_error(&revoke(&a, &d, "okta:00ualice"), 401, "AUTH_INVALID");
    gd::expect_error(
        &revoke(&b, ADMIN_TOKEN, "okta:00unobody"),
        404,
        "USER_NOT_FOUND",
    );
    let r = revoke(&a, ADMIN_TOKEN, "okta:00ualice");
    refused(&b, &d);
    refused(&b, &e);
    assert_eq!(
        ended(&r),
        json!({"user": "okta:00ualice", "chains_ended": 2, "tokens_ended": 2})
    );
    works(&b, &bob);
    // Not a ban: a new login starts a chain that works at both hosts.
    let again = works(&b, &gd::token_of(&gd::login(&a, "alice")));
    works(&a, &again);
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A token row as the old schema wrote it: no chain id.
fn legacy_token(db: &mut ServiceDb, fill: char, user: &str, started: i64) -> String {
    let token: String = std::iter::repeat_n(fill, 43).collect();
    let now = now_ms();
    db.execute(
        "INSERT INTO gd_token (token_hash, user_id, kind, issued_at, expires_at, \
         chain_started_at) VALUES (?1, ?2, 'fresh', ?3, ?4, ?5)",
        &[
            guardian_service::store::digest_hex(&token).into(),
            user.into(),
            now.into(),
            (now + 900_000).into(),
            started.into(),
        ],
    );
    token
}

/// The store as the previous version left it, made before either host touches it.
fn old_store(state: &tempfile::TempDir) -> ServiceDb {
    let mut db = ServiceDb::open(state.path(), "guardian");
    for ddl in keyward_test_kit::scenarios::guardian::SCHEMA_BEFORE_CHAIN_IDS {
        db.execute(ddl, &[]);
    }
    db
}

#[test]
fn a_store_from_before_chain_ids_is_migrated_and_its_old_chains_end_on_both_hosts() {
    let okta = gd::okta_stub();
    let (state, a, b) = two_hosts(okta.port);
    let mut db = old_store(&state);
    let user = "okta:00uhardhat";
    let master = envelope::MasterKey::parse(TEST_MASTER_KEY).unwrap();
    let ct = envelope::Sealer::new(&master, b"keyward/guardian/mnemonic/v1")
        .unwrap()
        .seal(HARDHAT.as_bytes(), user.as_bytes())
        .unwrap();
    db.execute(
        "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?1, ?2, ?3, 0)",
        &[user.into(), ct.into(), ADDR0.into()],
    );
    // Two tokens of one old chain, one of another.
    let start = now_ms() - 60_000;
    let old = legacy_token(&mut db, 'A', user, start);
    let old_sibling = legacy_token(&mut db, 'B', user, start);
    let other = legacy_token(&mut db, 'C', user, start - 1);

    // The first request (at a) migrates; the old token works and its chain goes on at b.
    let r = gd::get(&a, "/guardian/address", &old);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["address"], ADDR0);
    let f = works(&b, &gd::fresh(&r));
    assert_eq!(db.int("SELECT COUNT(*) FROM gd_schema_3", &[]), 0);
    assert_eq!(
        db.text(
            "SELECT chain_id FROM gd_token WHERE token_hash = ?1",
            &[guardian_service::store::digest_hex(&f).into()],
        ),
        format!("legacy-{start}")
    );
    // Logged out at b, the old chain is refused at a, its untouched old token included.
    let r = logout(&b, &f, &json!({}));
    refused(&a, &f);
    refused(&a, &old_sibling);
    assert_eq!(ended(&r), json!({"chains_ended": 1, "tokens_ended": 2}));
    // The other old chain, and a new login, go on.
    works(&b, &works(&a, &other));
    works(&b, &gd::token_of(&gd::login(&a, "hardhat")));
}

/// Both hosts meet the old store with several requests at once: each one migrates or finds the
/// migration done (`ALTER TABLE` runs only when a probe misses the column, and a host whose
/// `ALTER` lost the race goes on when the second probe finds the column), and every request is
/// served.
#[test]
fn two_hosts_migrating_one_old_store_at_once_both_serve() {
    let okta = gd::okta_stub();
    let (state, a, b) = two_hosts(okta.port);
    let mut db = old_store(&state);
    let hosts = [&a, &b];
    let results = keyward_e2e::race(8, |i| {
        let r = gd::login(hosts[i % 2], &format!("migrant{i}"));
        (r.status, r.text())
    });
    for (status, text) in &results {
        assert_eq!(*status, 200, "{text}");
    }
    assert_eq!(db.int("SELECT COUNT(*) FROM gd_schema_3", &[]), 0);
    assert_eq!(
        db.int("SELECT COUNT(*) FROM gd_token WHERE chain_id IS NULL", &[]),
        0
    );
    let t = gd::token_of(&gd::login(&b, "migrant0"));
    let r = logout(&a, &works(&b, &t), &json!({"all": true}));
    assert_eq!(ended(&r), json!({"chains_ended": 2, "tokens_ended": 2}));
}
