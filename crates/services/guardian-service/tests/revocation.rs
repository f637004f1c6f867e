//! docs/guardian.md, "Design: logout and revocation": the caller's logout (one chain or all of
//! them), the maintainer's revocation of one user, their refusals, their audit records, the
//! ended-chain list, and the migration of a database made before token chains had ids.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use envelope::{MasterKey, Sealer};
use guardian_service::store::{self, TokenKind};
use guest_kit::{Db, Request, Response, Value as Sql};
use keyward_test_kit::audit::{Row, row};
use keyward_test_kit::scenarios::guardian::ADDR0;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-for-the-revocation-test";

/// A harness that lets one user log in many times a minute.
fn harness() -> Harness {
    let h = Harness::new();
    h.set_var("login_user_rate_limit_per_minute", "100");
    h.set_var("login_rate_limit_per_minute", "100");
    h.set_var("admin_token", ADMIN_TOKEN);
    h
}

fn logout(h: &Harness, token: &str, body: Option<&str>) -> Response {
    let mut req = Request::new("POST", "/guardian/logout")
        .with_header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.with_body(b.to_owned());
    }
    h.sign_req(req)
}

fn revoke(h: &Harness, bearer: &str, body: &str) -> Response {
    h.admin_req(
        Request::new("POST", "/guardian/revoke")
            .with_header("authorization", format!("Bearer {bearer}"))
            .with_body(body.to_owned()),
    )
}

fn address(h: &Harness, token: &str) -> Response {
    h.call("GET", "/guardian/address", token, None)
}

/// A token that still works: one signing-route call succeeds; the fresh token it hands out.
#[track_caller]
fn works(h: &Harness, token: &str) -> String {
    let r = address(h, token);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    fresh(&r)
}

/// A token that no longer works: 401, and no fresh token in the answer.
#[track_caller]
fn refused(h: &Harness, token: &str) {
    let j = assert_error(&address(h, token), 401, "AUTH_INVALID");
    assert!(j.get("fresh_client_token").is_none(), "{j}");
}

/// The body of a 200, which must carry no token of any kind.
#[track_caller]
fn ok_without_token(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = json(r);
    for field in ["client_token", "fresh_client_token", "token"] {
        assert!(j.get(field).is_none(), "{j}");
    }
    j
}

/// The stored chain of a token.
fn chain_of(h: &Harness, token: &str) -> String {
    h.db.execute(
        "SELECT chain_id FROM gd_token WHERE token_hash = ?",
        &[store::digest_hex(token).into()],
    )
    .unwrap()
    .first()
    .and_then(|r| r.text(0).map(str::to_owned))
    .expect("a stored token")
}

/// A second valid token in the chain of `token`, as a request under way in that chain would
/// store it (the only way a chain holds two valid tokens at once).
fn sibling(h: &Harness, user: &str, token: &str) -> String {
    let chain = chain_of(h, token);
    let started: i64 =
        h.db.execute(
            "SELECT chain_started_at FROM gd_token WHERE token_hash = ?",
            &[store::digest_hex(token).into()],
        )
        .unwrap()
        .first()
        .and_then(|r| r.integer(0))
        .unwrap();
    mint_in(h, user, &chain, started)
}

fn mint_in(h: &Harness, user: &str, chain: &str, started: i64) -> String {
    let now = h.now.get();
    store::mint_token(
        &h.db,
        user,
        TokenKind::Fresh,
        now,
        now + 900_000,
        started,
        Some(chain),
    )
    .unwrap()
}

fn user_tokens(h: &Harness, user: &str) -> i64 {
    h.db.execute(
        "SELECT COUNT(*) FROM gd_token WHERE user_id = ?",
        &[user.into()],
    )
    .unwrap()
    .first()
    .and_then(|r| r.integer(0))
    .unwrap()
}

#[test]
fn logout_ends_the_presented_chain_and_no_other() {
    let h = harness();
    let user = "okta:00uALICE";
    let a0 = h.okta_login_token("00uALICE");
    let b0 = h.okta_login_token("00uALICE");
    // Chain A moves on once; a second token of it is under way.
    let a1 = works(&h, &a0);
    let a_sibling = sibling(&h, user, &a1);

    let r = logout(&h, &a1, None);
    let j = ok_without_token(&r);
    assert_eq!(j, json!({"chains_ended": 1, "tokens_ended": 2}));
    // Every token chain A ever had is refused: the one presented, the other one minted in it,
    // and the spent login token.
    for t in [&a1, &a_sibling, &a0] {
        refused(&h, t);
    }
    // Logging out again with the presented token is an unknown token.
    assert_error(&logout(&h, &a1, None), 401, "AUTH_INVALID");
    // Chain B of the same user goes on.
    let b1 = works(&h, &b0);
    let b2 = works(&h, &b1);
    assert_eq!(user_tokens(&h, user), 1);
    // `{}` and `{"all": false}` end the presented chain only, as an empty body does.
    let c0 = h.okta_login_token("00uALICE");
    let r = logout(&h, &b2, Some(r#"{"all": false}"#));
    assert_eq!(
        ok_without_token(&r),
        json!({"chains_ended": 1, "tokens_ended": 1})
    );
    refused(&h, &b2);
    let c1 = works(&h, &c0);
    assert_eq!(
        ok_without_token(&logout(&h, &c1, Some("{}"))),
        json!({"chains_ended": 1, "tokens_ended": 1})
    );
    refused(&h, &c1);
    assert_eq!(user_tokens(&h, user), 0);
}

#[test]
fn logout_all_ends_every_chain_of_the_user_and_only_theirs() {
    let h = harness();
    let alice = "okta:00uALICE";
    let a = h.okta_login_token("00uALICE");
    let b = works(&h, &h.okta_login_token("00uALICE"));
    let c = h.okta_login_token("00uALICE");
    let c_sibling = sibling(&h, alice, &c);
    let bob = h.okta_login_token("00uBOB");

    let r = logout(&h, &a, Some(r#"{"all": true}"#));
    assert_eq!(
        ok_without_token(&r),
        json!({"chains_ended": 3, "tokens_ended": 4})
    );
    for t in [&a, &b, &c, &c_sibling] {
        refused(&h, t);
    }
    assert_eq!(user_tokens(&h, alice), 0);
    // Another user is untouched.
    works(&h, &bob);
    // An ended chain is not a ban: the user logs in again and the new chain works.
    let again = h.okta_login_token("00uALICE");
    works(&h, &again);
}

#[test]
fn a_token_stored_in_an_ended_chain_after_its_end_is_refused() {
    // A request under way when its chain is ended may still store the fresh token it minted
    // (on PostgreSQL, a concurrent transaction): the chain's listing refuses that token, for
    // each way of ending a chain.
    let user = "okta:00uALICE";
    type End = fn(&Harness, &str) -> Response;
    let ends: [(&str, End); 3] = [
        ("logout", |h, t| logout(h, t, None)),
        ("logout all", |h, t| logout(h, t, Some(r#"{"all": true}"#))),
        ("revoke", |h, _| {
            revoke(
                h,
                ADMIN_TOKEN,
                &json!({"user": "okta:00uALICE"}).to_string(),
            )
        }),
    ];
    for (name, end) in ends {
        let h = harness();
        let t = works(&h, &h.okta_login_token("00uALICE"));
        let chain = chain_of(&h, &t);
        let started: i64 = h.count("SELECT MAX(chain_started_at) FROM gd_token");
        let r = end(&h, &t);
        assert_eq!(
            r.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let late = mint_in(&h, user, &chain, started);
        let j = assert_error(&address(&h, &late), 401, "AUTH_INVALID");
        assert!(j.get("fresh_client_token").is_none(), "{name}");
        // Nor can it log out with it.
        assert_error(&logout(&h, &late, None), 401, "AUTH_INVALID");
        // A new chain is not listed.
        works(&h, &h.okta_login_token("00uALICE"));
    }
}

#[test]
fn logout_refusals_end_nothing_and_leave_the_token_usable() {
    let h = harness();
    let t = h.okta_login_token("00uALICE");
    let tokens = h.count("SELECT COUNT(*) FROM gd_token");

    // No token, a malformed one, another scheme, an unknown one: 401 as on every enduser route.
    let none = h.sign_req(Request::new("POST", "/guardian/logout"));
    assert_error(&none, 401, "AUTH_INVALID");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_error(&logout(&h, "not-a-token", None), 401, "AUTH_INVALID");
    let basic = h.sign_req(
        Request::new("POST", "/guardian/logout").with_header("authorization", format!("Basic {t}")),
    );
    assert_error(&basic, 401, "AUTH_INVALID");
    assert_error(&logout(&h, &"A".repeat(43), None), 401, "AUTH_INVALID");
    // Bad bodies: 400 before the token is consumed, no fresh token.
    for body in [
        "not json",
        "[]",
        "\"all\"",
        r#"{"all": "yes"}"#,
        r#"{"all": 1}"#,
        r#"{"every": true}"#,
        r#"{"all": true, "user": "okta:00uBOB"}"#,
    ] {
        let j = assert_error(&logout(&h, &t, Some(body)), 400, "BAD_REQUEST");
        assert!(j.get("fresh_client_token").is_none(), "{body}: {j}");
    }
    // Only POST; over max_body_bytes: 413 before the token is looked at.
    let get = h.call("GET", "/guardian/logout", &t, None);
    assert_error(&get, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(get.header("allow"), Some("POST"));
    h.set_var("max_body_bytes", "16");
    let big = format!(r#"{{"all": false, "pad": "{}"}}"#, "x".repeat(64));
    assert_error(&logout(&h, &t, Some(&big)), 413, "PAYLOAD_TOO_LARGE");
    h.unset_var("max_body_bytes");
    // No master_key: 503, as on the signing routes, before the token is touched.
    h.unset_var("master_key");
    assert_error(&logout(&h, &t, None), 503, "NOT_CONFIGURED");
    h.set_var("master_key", MASTER);

    assert_eq!(h.count("SELECT COUNT(*) FROM gd_token"), tokens);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_chain_end"), 0);
    // The token was never consumed.
    works(&h, &t);
}

#[test]
fn the_maintainer_ends_every_chain_of_one_user_and_gets_no_token() {
    let h = harness();
    let alice = "okta:00uALICE";
    let a = h.okta_login_token("00uALICE");
    let b = works(&h, &h.okta_login_token("00uALICE"));
    let bob = h.okta_login_token("00uBOB");
    let all_tokens = h.count("SELECT COUNT(*) FROM gd_token");

    let r = revoke(&h, ADMIN_TOKEN, &json!({"user": alice}).to_string());
    let j = ok_without_token(&r);
    assert_eq!(
        j,
        json!({"user": alice, "chains_ended": 2, "tokens_ended": 2})
    );
    // It only deleted: no token was minted for anyone.
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_token"), all_tokens - 2);
    assert_eq!(user_tokens(&h, alice), 0);
    refused(&h, &a);
    refused(&h, &b);
    works(&h, &bob);
    // Again: the user is known and has nothing left to end.
    let r = revoke(&h, ADMIN_TOKEN, &json!({"user": alice}).to_string());
    assert_eq!(
        ok_without_token(&r),
        json!({"user": alice, "chains_ended": 0, "tokens_ended": 0})
    );
    // Not a ban.
    works(&h, &h.okta_login_token("00uALICE"));
}

#[test]
fn maintainer_revocation_refusals() {
    let h = harness();
    let alice = "okta:00uALICE";
    let t = h.okta_login_token("00uALICE");
    let body = json!({"user": alice}).to_string();

    // A wrong, missing or client bearer: 401; the client token is not consumed by it.
    assert_error(&revoke(&h, "wrong", &body), 401, "AUTH_INVALID");
    assert_error(&revoke(&h, &t, &body), 401, "AUTH_INVALID");
    let none = h.admin_req(Request::new("POST", "/guardian/revoke").with_body(body.clone()));
    assert_error(&none, 401, "AUTH_INVALID");
    // Bad bodies: 400.
    let long = "x".repeat(5 + 2048 + 1 + 255 + 1);
    for bad in [
        "not json".to_owned(),
        "[]".to_owned(),
        "{}".to_owned(),
        json!({"user": ""}).to_string(),
        json!({"user": null}).to_string(),
        json!({"user": 7}).to_string(),
        json!({"user": alice, "all": true}).to_string(),
        json!({"user": long}).to_string(),
    ] {
        let j = assert_error(&revoke(&h, ADMIN_TOKEN, &bad), 400, "BAD_REQUEST");
        assert!(j.get("fresh_client_token").is_none(), "{bad}: {j}");
    }
    // A user guardian does not know: 404, nothing ended (user ids are case-sensitive).
    for unknown in ["okta:00uNOBODY", "OKTA:00UALICE"] {
        let r = revoke(&h, ADMIN_TOKEN, &json!({"user": unknown}).to_string());
        assert_error(&r, 404, "USER_NOT_FOUND");
    }
    // Only POST.
    let get = h.admin_req(
        Request::new("GET", "/guardian/revoke")
            .with_header("authorization", format!("Bearer {ADMIN_TOKEN}")),
    );
    assert_error(&get, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_chain_end"), 0);
    works(&h, &t);
    // No admin_token: the maintainer API is off.
    h.unset_var("admin_token");
    assert_error(&revoke(&h, ADMIN_TOKEN, &body), 403, "ADMIN_DISABLED");
}

fn records_from(h: &Harness, from: usize) -> Vec<Row> {
    keyward_test_kit::audit::rows_since(&h.db, from)
}

/// How the trail names a token.
fn id(token: &str) -> String {
    store::token_id(token)
}

#[test]
fn each_ending_leaves_one_audit_record_naming_no_token() {
    let h = harness();
    let alice = "okta:00uALICE";
    let a0 = h.okta_login_token("00uALICE");
    let a1 = works(&h, &a0);
    let b0 = h.okta_login_token("00uALICE");
    let c0 = h.okta_login_token("00uALICE");
    let d0 = h.okta_login_token("00uALICE");
    let from = keyward_test_kit::audit::records(&h.db).len();

    assert_eq!(logout(&h, &a1, Some("[]")).status, 400);
    assert_eq!(logout(&h, &a1, None).status, 200);
    assert_eq!(logout(&h, &a1, None).status, 401);
    assert_eq!(logout(&h, &b0, Some(r#"{"all": true}"#)).status, 200);
    let e0 = h.okta_login_token("00uALICE");
    let from_revoke = keyward_test_kit::audit::records(&h.db).len();
    let body = json!({"user": alice}).to_string();
    assert_eq!(revoke(&h, "wrong", &body).status, 401);
    assert_eq!(revoke(&h, ADMIN_TOKEN, &body).status, 200);
    let nobody = json!({"user": "okta:00uNOBODY"}).to_string();
    assert_eq!(revoke(&h, ADMIN_TOKEN, &nobody).status, 404);

    let user = format!("user={alice}");
    let mut expected = vec![
        // A bad body: the token is named, its owner is not known (it was not consumed).
        row(
            "token.logout",
            "failure",
            "BAD_REQUEST",
            "",
            "",
            json!({"token": id(&a1)}),
        ),
        // The chain is named as the login that began it named its token.
        row(
            "token.logout",
            "success",
            "",
            &user,
            alice,
            json!({"token": id(&a1), "chain": id(&a0), "chains_ended": 1, "tokens_ended": 1}),
        ),
        row(
            "token.logout",
            "failure",
            "AUTH_INVALID",
            "",
            "",
            json!({"token": id(&a1)}),
        ),
        row(
            "token.logout_all",
            "success",
            "",
            &user,
            alice,
            json!({"token": id(&b0), "chains_ended": 3, "tokens_ended": 3}),
        ),
    ];
    let got = records_from(&h, from);
    // The login between the logouts and the revocation.
    assert_eq!(got.len(), expected.len() + 1 + 3, "{got:#?}");
    assert_eq!(got[..expected.len()], expected[..]);
    assert_eq!(got[expected.len()].0, "user.login");
    expected = vec![
        row(
            "token.revoke_user",
            "failure",
            "AUTH_INVALID",
            "",
            "",
            json!({}),
        ),
        row(
            "token.revoke_user",
            "success",
            "",
            "admin",
            alice,
            json!({"chains_ended": 1, "tokens_ended": 1}),
        ),
        row(
            "token.revoke_user",
            "failure",
            "USER_NOT_FOUND",
            "admin",
            "okta:00uNOBODY",
            json!({}),
        ),
    ];
    assert_eq!(records_from(&h, from_revoke), expected);
    // No token ever reaches the trail, only their names.
    let text: String = keyward_test_kit::audit::records(&h.db)
        .iter()
        .map(|(r, mac)| format!("{r:?}{mac}"))
        .collect();
    for secret in [&a0, &a1, &b0, &c0, &d0, &e0] {
        assert!(!text.contains(secret.as_str()), "a token reached the trail");
    }
    assert!(!text.contains(ADMIN_TOKEN));
    assert_eq!(
        keyward_test_kit::audit::verify(&h.db),
        i64::try_from(keyward_test_kit::audit::records(&h.db).len()).unwrap()
    );
}

#[test]
fn ended_chains_are_forgotten_once_their_tokens_would_have_expired() {
    let h = harness();
    let t = h.okta_login_token("00uALICE");
    assert_eq!(logout(&h, &t, None).status, 200);
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_chain_end"), 1);
    // A login purges; before the chain's maximum the listing stays.
    h.advance_secs(43_200 - 1);
    h.okta_login_token("00uALICE");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_chain_end"), 1);
    h.advance_secs(1);
    h.okta_login_token("00uALICE");
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_chain_end"), 0);
}

// ---- a database made before chains had ids ------------------------------------------------

/// A token as the old schema stored it (no chain id).
fn legacy_token(h: &Harness, fill: char, user: &str, started: i64) -> String {
    let token: String = std::iter::repeat_n(fill, 43).collect();
    let now = h.now.get();
    h.db.execute(
        "INSERT INTO gd_token (token_hash, user_id, kind, issued_at, expires_at, \
         chain_started_at) VALUES (?, ?, 'fresh', ?, ?, ?)",
        &[
            store::digest_hex(&token).into(),
            user.into(),
            Sql::Integer(now),
            Sql::Integer(now + 900_000),
            Sql::Integer(started),
        ],
    )
    .unwrap();
    token
}

#[test]
fn a_database_made_before_chains_had_ids_is_migrated_once_and_its_tokens_work() {
    let h = harness();
    for ddl in keyward_test_kit::scenarios::guardian::SCHEMA_BEFORE_CHAIN_IDS {
        h.db.execute(ddl, &[]).unwrap();
    }
    let user = "okta:00uHARDHAT";
    let ct = Sealer::new(
        &MasterKey::parse(MASTER).unwrap(),
        b"keyward/guardian/mnemonic/v1",
    )
    .unwrap()
    .seal(HARDHAT.as_bytes(), user.as_bytes())
    .unwrap();
    h.db.execute(
        "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?, ?, ?, 0)",
        &[user.into(), ct.into(), ADDR0.into()],
    )
    .unwrap();
    // Two tokens of one old chain (one of them as if minted by a request under way), and one
    // token of another old chain.
    let start = h.now.get() - 60_000;
    let old = legacy_token(&h, 'A', user, start);
    let old_sibling = legacy_token(&h, 'B', user, start);
    let other = legacy_token(&h, 'C', user, start - 1);
    assert!(
        h.db.execute("SELECT chain_id FROM gd_token", &[]).is_err(),
        "the old schema has no chain_id"
    );

    // The first request migrates; the old token works and its fresh token continues its chain.
    let r = address(&h, &old);
    assert_eq!(json(&r)["address"], ADDR0);
    let f = fresh(&r);
    assert_eq!(chain_of(&h, &f), format!("legacy-{start}"));
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_schema_3"), 0);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM gd_token WHERE chain_id IS NULL"),
        2,
        "old rows are not rewritten"
    );
    // Logging out with the fresh token ends the old chain, the untouched old token included.
    let j = ok_without_token(&logout(&h, &f, None));
    assert_eq!(j, json!({"chains_ended": 1, "tokens_ended": 2}));
    refused(&h, &f);
    refused(&h, &old_sibling);
    // The other old chain goes on.
    works(&h, &other);

    // Idempotent: a host that stopped after adding the column, before the marker, finishes.
    h.db.execute("DROP TABLE gd_schema_3", &[]).unwrap();
    store::ensure(&h.db).unwrap();
    store::ensure(&h.db).unwrap();
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_schema_3"), 0);
}

#[test]
fn a_new_database_gets_the_chain_column_without_a_migration() {
    let h = harness();
    let t = h.okta_login_token("00uALICE");
    assert_eq!(chain_of(&h, &t), id(&t));
    // The marker of the old schema is never made.
    assert!(
        h.db.execute("SELECT 1 FROM gd_schema_1", &[]).is_err(),
        "a new database has no gd_schema_1"
    );
    // The statements a fresh database gets include the column; run again, they change nothing.
    for ddl in store::SCHEMA.statements {
        h.db.execute(ddl, &[]).unwrap();
    }
    works(&h, &t);
}

#[test]
fn the_openapi_document_describes_every_route_and_the_new_code() {
    let doc: Value = serde_json::from_str(guardian_service::OPENAPI_JSON).unwrap();
    // Every route of every component, but the catch-all 404.
    for component in guardian_service::COMPONENTS {
        for route in component.routes.iter().filter(|r| !r.ends_with("...")) {
            assert!(doc["paths"][route].is_object(), "{route} is not described");
        }
    }
    let logout = &doc["paths"]["/guardian/logout"]["post"];
    assert_eq!(
        logout["security"],
        json!([{"bearer": []}, {"vaultToken": []}])
    );
    let ok = &logout["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["required"], json!(["chains_ended", "tokens_ended"]));
    let revoke = &doc["paths"]["/guardian/revoke"]["post"];
    assert_eq!(revoke["security"], json!([{"admin": []}]));
    let ok = &revoke["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["additionalProperties"], false);
    assert!(ok["properties"].get("fresh_client_token").is_none());
    assert!(revoke["responses"]["404"].is_object());
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
    assert!(
        codes.as_array().unwrap().contains(&json!("USER_NOT_FOUND")),
        "{codes}"
    );
}
