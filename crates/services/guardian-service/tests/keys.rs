//! docs/guardian.md, "Design: keys" and "Storage": signing opens the user's sealed account key
//! (`gd_signing_key`), stored at key creation or, for a user created before, on first use; the
//! same keys, addresses and signatures as the mnemonic gives; a copied row fails closed; and
//! every sealed column guardian writes is one `keyward rewrap` knows.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use envelope::{MasterKey, Sealer};
use guardian_core::{Mnemonic, recover_address};
use guest_kit::Db;
use keyward_test_kit::scenarios::guardian::{ADDR0, ADDR2, vector};
use serde_json::json;

const RAW: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";

fn signing_keys(h: &Harness, user_id: &str) -> i64 {
    h.count(&format!(
        "SELECT COUNT(*) FROM gd_signing_key WHERE user_id = '{user_id}'"
    ))
}

/// Opens `ct` as the sealed column `table.column` of the registry `keyward rewrap` uses.
fn open_as_registered(table: &str, column: &str, row_values: &[String], ct: &str) -> Vec<u8> {
    let c = sealed_columns::COLUMNS
        .iter()
        .find(|c| c.table == table && c.column == column)
        .unwrap_or_else(|| panic!("{table}.{column} is not in the sealed-column registry"));
    let aad = (c.aad)(row_values).expect("aad");
    Sealer::new(&MasterKey::parse(MASTER).unwrap(), c.info)
        .unwrap()
        .open(ct, aad.as_bytes())
        .unwrap_or_else(|_| panic!("{table}.{column} does not open with its registered definition"))
}

#[test]
fn a_user_created_before_account_keys_gets_one_on_first_use_and_the_same_signatures() {
    let h = Harness::new();
    // A user row as an older version stored it: the sealed mnemonic only.
    h.insert_user("okta:00uHARDHAT", HARDHAT, ADDR0);
    let mut t = h.okta_login_token("00uHARDHAT");
    assert_eq!(
        signing_keys(&h, "okta:00uHARDHAT"),
        0,
        "login does not add it"
    );

    let v = vector("hardhat-0-sign");
    let body = json!({"raw_data": v["raw_data"], "address_index": 0});
    let j = chained(&h, &mut t, "POST", "/guardian/sign", Some(body.clone()));
    assert_eq!(j["signature"], v["signature"]);
    assert_eq!(
        signing_keys(&h, "okta:00uHARDHAT"),
        1,
        "stored on first use"
    );

    // From now on the mnemonic is not opened to sign: with its ciphertext destroyed, every
    // signing and address route still answers as before.
    h.db.execute(
        "UPDATE gd_user SET mnemonic_ct = 'destroyed' WHERE user_id = 'okta:00uHARDHAT'",
        &[],
    )
    .unwrap();
    let j = chained(&h, &mut t, "POST", "/guardian/sign", Some(body));
    assert_eq!(j["signature"], v["signature"]);
    let v2 = vector("hardhat-2-sign");
    let body = json!({"raw_data": v2["raw_data"], "address_index": v2["address_index"]});
    let j = chained(&h, &mut t, "POST", "/guardian/sign", Some(body));
    assert_eq!(j["signature"], v2["signature"]);
    let v = vector("hardhat-0-eip191-hello");
    let j = chained(
        &h,
        &mut t,
        "POST",
        "/guardian/sign-message",
        Some(json!({"message": "hello"})),
    );
    assert_eq!(j["signature"], v["signature"]);
    let j = chained(&h, &mut t, "GET", "/guardian/address?address_index=2", None);
    assert_eq!(j["address"], ADDR2);
    let j = chained(&h, &mut t, "GET", "/guardian/sign", None);
    assert_eq!(j["public_address"], ADDR0);
    assert_eq!(signing_keys(&h, "okta:00uHARDHAT"), 1);
}

#[test]
fn a_new_user_gets_the_account_key_with_the_user_and_it_matches_the_mnemonic() {
    let h = Harness::new();
    h.okta_success("00uNEW");
    let r = h.login(json!({"okta_username": "new@example.com", "okta_password": "pw"}));
    assert_eq!(r.status, 200, "{}", json(&r));
    let address = json(&r)["address"].as_str().unwrap().to_owned();
    let mut t = json(&r)["client_token"].as_str().unwrap().to_owned();
    assert_eq!(signing_keys(&h, "okta:00uNEW"), 1, "created with the user");

    // The mnemonic, opened as export opens it, derives what signing answers.
    let ct = h.db_text("SELECT mnemonic_ct FROM gd_user WHERE user_id = 'okta:00uNEW'");
    let phrase = open_as_registered("gd_user", "mnemonic_ct", &["okta:00uNEW".into()], &ct);
    let m = Mnemonic::parse(std::str::from_utf8(&phrase).unwrap()).unwrap();
    assert_eq!(m.derive_address(0).unwrap().to_checksum(), address);
    for index in [0u32, 7, 123_456] {
        let j = chained(
            &h,
            &mut t,
            "POST",
            "/guardian/sign",
            Some(json!({"raw_data": RAW, "address_index": index})),
        );
        let want = m
            .derive_key(index)
            .unwrap()
            .sign_digest(&guardian_core::hex::decode_fixed(RAW).unwrap())
            .unwrap()
            .to_hex();
        assert_eq!(j["signature"], want.as_str(), "index {index}");
        let j = chained(
            &h,
            &mut t,
            "GET",
            &format!("/guardian/address?address_index={index}"),
            None,
        );
        assert_eq!(
            j["address"],
            m.derive_address(index).unwrap().to_checksum().as_str()
        );
    }
    let sig = guardian_core::hex::decode(
        chained(
            &h,
            &mut t,
            "POST",
            "/guardian/sign",
            Some(json!({"raw_data": RAW})),
        )["signature"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let digest = guardian_core::hex::decode_fixed(RAW).unwrap();
    assert_eq!(
        recover_address(&digest, &sig).unwrap().to_checksum(),
        address
    );
}

#[test]
fn an_account_key_copied_to_another_user_fails_closed() {
    let h = Harness::new();
    let _a = h.okta_login_token("00uA");
    let t = h.okta_login_token("00uB");
    assert_eq!(signing_keys(&h, "okta:00uA"), 1);
    // B's account key overwritten with A's, as by an attacker with write access to the database.
    h.db.execute(
        "UPDATE gd_signing_key SET account_ct = (SELECT account_ct FROM gd_signing_key \
         WHERE user_id = 'okta:00uA') WHERE user_id = 'okta:00uB'",
        &[],
    )
    .unwrap();
    for (method, path, body) in [
        ("POST", "/guardian/sign", Some(json!({"raw_data": RAW}))),
        ("GET", "/guardian/address", None),
    ] {
        let r = h.call(method, path, &t, body);
        let j = assert_error(&r, 500, "KEY_UNAVAILABLE");
        // A server error rolls back: no fresh token is handed out.
        assert!(j.get("fresh_client_token").is_none());
        assert!(!String::from_utf8_lossy(&r.body).contains("okta:00uA"));
    }
    // Nothing fell back to the mnemonic or replaced the row.
    assert_eq!(
        h.db_text("SELECT account_ct FROM gd_signing_key WHERE user_id = 'okta:00uA'"),
        h.db_text("SELECT account_ct FROM gd_signing_key WHERE user_id = 'okta:00uB'")
    );
}

/// `keyward rewrap` re-seals exactly the columns of the registry: each sealed column guardian
/// creates must be there, with the info and AAD guardian seals it with.
#[test]
fn every_sealed_column_guardian_writes_is_in_the_rewrap_registry() {
    let h = Harness::new();
    let _ = h.okta_login_token("00uREG");
    // Every `…_ct` column of guardian's tables is registered.
    for ddl in guardian_service::store::SCHEMA.statements {
        let Some(rest) = ddl.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
            continue;
        };
        let table = rest.split_whitespace().next().unwrap();
        for column in rest.split(['(', ',', ' ']).filter(|w| w.ends_with("_ct")) {
            assert!(
                sealed_columns::COLUMNS
                    .iter()
                    .any(|c| c.table == table && c.column == column),
                "{table}.{column} is sealed but `keyward rewrap` would not re-seal it"
            );
        }
    }
    // And what was written opens with the registered definitions.
    let ct = h.db_text("SELECT account_ct FROM gd_signing_key WHERE user_id = 'okta:00uREG'");
    let plain = open_as_registered("gd_signing_key", "account_ct", &["okta:00uREG".into()], &ct);
    assert_eq!(plain.len(), guardian_core::hd::AccountKey::LEN);
    let ct = h.db_text("SELECT mnemonic_ct FROM gd_user WHERE user_id = 'okta:00uREG'");
    open_as_registered("gd_user", "mnemonic_ct", &["okta:00uREG".into()], &ct);
}
