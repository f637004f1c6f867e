//! `keyward shield import` (docs/shield.md, "Design: import from upstream Shield";
//! docs/OPERATIONS.md, "Moving from upstream Shield") against a real PostgreSQL holding upstream
//! Shield v0.3.0's schema and rows made in upstream's formats: bcrypt API secrets (hex and legacy
//! UUID), the project key split by upstream's 2-of-2 Shamir (x ‖ y, GF(2^8) mod 0x11b, x = 1
//! stored), project shares as base64(nonce ‖ AES-256-GCM ciphertext ‖ tag) under that key. The
//! imported project is then driven by shield-js 0.1.37 with its old API key, secret and
//! encryption part.
//!
//! Needs PostgreSQL for the upstream database (KEYWARD_TEST_PG_URL): ignored unless run with
//! `--include-ignored`, as the scale-out pass of `cargo xtask test` does; keyward's own shield
//! database is then on PostgreSQL too (KEYWARD_TEST_BACKEND=scale-out), or embedded SQLite.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keyward_e2e::db::{ServiceDb, Val};
use keyward_e2e::shield::{builder, rsa, tok};
use keyward_e2e::{Host, Value, json, request};

/// Upstream Shield v0.3.0's tables as its goose migrations leave them
/// (internal/adapters/repositories/sql/migrations, 20240319132302_init.sql through
/// 20260303170058_shld_shares_indexes.sql), written out as the final CREATE statements.
const UPSTREAM_SCHEMA: &str = "
CREATE TABLE shld_projects (
    id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, api_key VARCHAR(255) NOT NULL,
    api_secret VARCHAR(255) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, deleted_at TIMESTAMP DEFAULT NULL,
    enable_2fa BOOL NOT NULL DEFAULT false);
CREATE UNIQUE INDEX idx_projects_api_key ON shld_projects(api_key);
CREATE TABLE shld_providers (
    id VARCHAR(36) PRIMARY KEY, project_id VARCHAR(36) NOT NULL,
    type VARCHAR(16) NOT NULL CHECK (type IN ('OPENFORT', 'CUSTOM')),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP DEFAULT NULL);
ALTER TABLE shld_providers ADD CONSTRAINT fk_provider_project FOREIGN KEY (project_id) REFERENCES shld_projects(id) ON DELETE CASCADE;
CREATE INDEX idx_providers_project_type ON shld_providers(project_id, type);
CREATE TABLE shld_openfort_providers (provider_id VARCHAR(36) PRIMARY KEY, publishable_key VARCHAR(255) NOT NULL);
ALTER TABLE shld_openfort_providers ADD CONSTRAINT fk_openfort_provider FOREIGN KEY (provider_id) REFERENCES shld_providers(id) ON DELETE CASCADE;
CREATE TABLE shld_custom_providers (
    provider_id VARCHAR(36) PRIMARY KEY, jwk_url VARCHAR(255), pem_cert text DEFAULT NULL,
    key_type VARCHAR(16) DEFAULT NULL CHECK (key_type IN ('RSA', 'ECDSA', 'ED25519')),
    cookie_field_name VARCHAR(64) DEFAULT NULL);
ALTER TABLE shld_custom_providers ADD CONSTRAINT fk_custom_provider FOREIGN KEY (provider_id) REFERENCES shld_providers(id) ON DELETE CASCADE;
CREATE TABLE shld_users (
    id VARCHAR(36) PRIMARY KEY, project_id VARCHAR(36) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP DEFAULT NULL);
ALTER TABLE shld_users ADD CONSTRAINT fk_user_project FOREIGN KEY (project_id) REFERENCES shld_projects(id) ON DELETE CASCADE;
CREATE TABLE shld_external_users (
    id VARCHAR(36) PRIMARY KEY, user_id VARCHAR(36) NOT NULL, external_user_id VARCHAR(255) NOT NULL,
    provider_id VARCHAR(36) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, deleted_at TIMESTAMP DEFAULT NULL);
ALTER TABLE shld_external_users ADD CONSTRAINT fk_external_user_user FOREIGN KEY (user_id) REFERENCES shld_users(id) ON DELETE CASCADE;
ALTER TABLE shld_external_users ADD CONSTRAINT fk_external_user_provider FOREIGN KEY (provider_id) REFERENCES shld_providers(id) ON DELETE CASCADE;
CREATE INDEX idx_external_user_provider_deleted ON shld_external_users (external_user_id, provider_id, deleted_at);
CREATE TABLE shld_keychains (
    id VARCHAR(36) PRIMARY KEY, user_id VARCHAR(36) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP DEFAULT NULL);
CREATE INDEX idx_user_id ON shld_keychains(user_id);
ALTER TABLE shld_keychains ADD CONSTRAINT fk_keychain_user FOREIGN KEY (user_id) REFERENCES shld_users(id) ON DELETE CASCADE;
CREATE TABLE shld_share_storage_methods (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO shld_share_storage_methods (id, name) VALUES (0, 'Shield'), (1, 'Google Drive'), (2, 'iCloud');
CREATE TABLE shld_shares (
    id VARCHAR(36) PRIMARY KEY, data VARCHAR(500) NOT NULL, user_id VARCHAR(36),
    salt VARCHAR(255) DEFAULT NULL, iterations INT DEFAULT NULL, length INT DEFAULT NULL,
    digest VARCHAR(255) DEFAULT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, deleted_at TIMESTAMP DEFAULT NULL,
    entropy VARCHAR(255) DEFAULT 'none', keychain_id VARCHAR(36) DEFAULT NULL,
    reference VARCHAR(255) DEFAULT NULL, storage_method_id INTEGER NOT NULL);
ALTER TABLE shld_shares ADD CONSTRAINT fk_share_user FOREIGN KEY (user_id) REFERENCES shld_users(id) ON DELETE CASCADE;
ALTER TABLE shld_shares ADD CONSTRAINT fk_share_keychain FOREIGN KEY (keychain_id) REFERENCES shld_keychains(id) ON DELETE SET NULL;
ALTER TABLE shld_shares ADD CONSTRAINT fk_shares_storage_method FOREIGN KEY (storage_method_id) REFERENCES shld_share_storage_methods(id);
CREATE INDEX idx_shld_shares_reference_deleted_at ON shld_shares(reference, deleted_at);
CREATE TABLE shld_passkey_references (
    passkey_id VARCHAR(255) NOT NULL, passkey_env VARCHAR(255) NOT NULL,
    share_reference VARCHAR(255) NOT NULL, PRIMARY KEY (share_reference),
    CONSTRAINT fk_share FOREIGN KEY (share_reference) REFERENCES shld_shares(id));
CREATE TABLE shld_encryption_parts (id VARCHAR(36) PRIMARY KEY, project_id VARCHAR(36) NOT NULL, part VARCHAR(255) NOT NULL);
ALTER TABLE shld_encryption_parts ADD CONSTRAINT fk_part_project FOREIGN KEY (project_id) REFERENCES shld_projects(id) ON DELETE CASCADE;
CREATE TABLE shld_shamir_migrations (
    id VARCHAR(36) PRIMARY KEY, project_id VARCHAR(36) NOT NULL,
    timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX idx_project_id_success ON shld_shamir_migrations(project_id, success);
CREATE TABLE shld_notifications (
    id SERIAL PRIMARY KEY, project_id VARCHAR(36) NOT NULL, external_user_id VARCHAR(255) NOT NULL,
    notif_type VARCHAR(16) NOT NULL CHECK (notif_type IN ('SMS', 'Email')), price FLOAT NOT NULL,
    sent_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);
CREATE TABLE shld_user_contacts (id SERIAL PRIMARY KEY, external_user_id VARCHAR(255) NOT NULL UNIQUE, email CHAR(128), phone CHAR(128));
CREATE TABLE shld_rate_limit (
    id SERIAL PRIMARY KEY, project_id VARCHAR(36) NOT NULL,
    email_requests_per_hour INT NOT NULL, sms_requests_per_hour INT NOT NULL DEFAULT 0);
";

// Project A: migrated key, hex secret. Project B: legacy UUID secret, a key never migrated.
const A: &str = "6a1f0c2e-1111-4a4a-8a8a-00000000000a";
const A_KEY: &str = "7c9e2f1a-aaaa-4b4b-9b9b-0000000000a1";
const A_SECRET: &str = "3b8f1e6c2a9d4f7e0c5b8a1d6e3f9c2b7a4d1e8f5c2b9a6d3e0f7c4b1a8d5e2f";
const B: &str = "6a1f0c2e-2222-4a4a-8a8a-00000000000b";
const B_KEY: &str = "7c9e2f1a-bbbb-4b4b-9b9b-0000000000b1";
const B_SECRET: &str = "d2c1b0a9-8f7e-4d6c-9b5a-443322110099";
const PROVIDER_A: &str = "9d000000-0000-4000-8000-0000000000c1";
const USER_1: &str = "a0000000-0000-4000-8000-000000000001";
const USER_2: &str = "a0000000-0000-4000-8000-000000000002";

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, as upstream's Shamir library.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

/// Upstream's 2-of-2 split of `key`: per byte p(x) = k ⊕ c·x; shares `[x] ‖ p(x)…` for x = 1, 2,
/// base64; the first is stored, the second is the project's encryption part.
fn upstream_split(key: &[u8; 32], coefficients: &[u8; 32]) -> (String, String) {
    let part = |x: u8| {
        let mut out = vec![x];
        out.extend(key.iter().zip(coefficients).map(|(k, c)| k ^ gf_mul(*c, x)));
        B64.encode(out)
    };
    (part(1), part(2))
}

/// Upstream's share cipher: base64(nonce ‖ AES-256-GCM(key, plaintext) ‖ tag), no AAD.
fn upstream_encrypt(key: &[u8; 32], nonce: [u8; 12], plaintext: &str) -> String {
    let cipher = Aes256Gcm::new_from_slice(key).expect("key");
    let ct = cipher
        .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
        .expect("encrypt");
    let mut out = nonce.to_vec();
    out.extend(ct);
    B64.encode(out)
}

/// A fresh upstream database on the test server, loaded with the schema; its URL.
fn upstream_database() -> (String, postgres::Client) {
    let server = std::env::var("KEYWARD_TEST_PG_URL").expect(
        "the import test needs PostgreSQL: set KEYWARD_TEST_PG_URL (scripts/test-backends.sh)",
    );
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("connect");
    let name = format!(
        "upstream_shield_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .expect("create the upstream database");
    let url = format!("{}/{name}", server.rsplit_once('/').expect("url").0);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect upstream");
    db.batch_execute(UPSTREAM_SCHEMA).expect("upstream schema");
    (url, db)
}

struct Fixture {
    part_a: String,
}

/// Rows as upstream writes them.
fn load_upstream(db: &mut postgres::Client) -> Fixture {
    let key_a: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let coeff: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(91).wrapping_add(3));
    let (db_part_a, part_a) = upstream_split(&key_a, &coeff);
    // Upstream bcrypts the 32 decoded bytes of a hex secret, and a legacy UUID secret's text.
    let hash_a = bcrypt::hash(hex::decode(A_SECRET).unwrap(), 8).unwrap();
    let hash_b = bcrypt::hash(B_SECRET.as_bytes(), 8).unwrap();
    let key_b = [0x42u8; 32];
    let (db_part_b, _) = upstream_split(&key_b, &[7u8; 32]);
    let pem = rsa().public_pem();
    let project_share = |n: u8, text: &str| upstream_encrypt(&key_a, [n; 12], text);
    let sql = format!(
        "INSERT INTO shld_projects (id, name, api_key, api_secret) VALUES
           ('{A}', 'upstream A', '{A_KEY}', '{hash_a}'), ('{B}', 'upstream B', '{B_KEY}', '{hash_b}');
         INSERT INTO shld_rate_limit (project_id, email_requests_per_hour, sms_requests_per_hour)
           VALUES ('{A}', 120, 2), ('{B}', 120, 2);
         INSERT INTO shld_encryption_parts (id, project_id, part) VALUES
           ('e0000000-0000-4000-8000-00000000000a', '{A}', '{db_part_a}'),
           ('e0000000-0000-4000-8000-00000000000b', '{B}', '{db_part_b}');
         INSERT INTO shld_shamir_migrations (id, project_id, success) VALUES
           ('f0000000-0000-4000-8000-00000000000a', '{A}', true),
           ('f0000000-0000-4000-8000-00000000000b', '{B}', false);
         INSERT INTO shld_providers (id, project_id, type) VALUES
           ('{PROVIDER_A}', '{A}', 'CUSTOM'),
           ('9d000000-0000-4000-8000-0000000000c2', '{A}', 'OPENFORT'),
           ('9d000000-0000-4000-8000-0000000000c3', '{B}', 'CUSTOM');
         INSERT INTO shld_custom_providers (provider_id, pem_cert, key_type) VALUES
           ('{PROVIDER_A}', '{pem}', 'RSA'), ('9d000000-0000-4000-8000-0000000000c3', '{pem}', 'RSA');
         INSERT INTO shld_openfort_providers (provider_id, publishable_key) VALUES
           ('9d000000-0000-4000-8000-0000000000c2', 'pk_upstream');
         INSERT INTO shld_users (id, project_id) VALUES
           ('{USER_1}', '{A}'), ('{USER_2}', '{A}'), ('a0000000-0000-4000-8000-000000000003', '{B}');
         INSERT INTO shld_external_users (id, user_id, external_user_id, provider_id) VALUES
           ('b0000000-0000-4000-8000-000000000001', '{USER_1}', 'imp-one', '{PROVIDER_A}'),
           ('b0000000-0000-4000-8000-000000000002', '{USER_2}', 'imp-two', '{PROVIDER_A}'),
           ('b0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000003', 'imp-three',
            '9d000000-0000-4000-8000-0000000000c3');
         INSERT INTO shld_keychains (id, user_id) VALUES ('c0000000-0000-4000-8000-000000000001', '{USER_1}');
         INSERT INTO shld_shares (id, data, user_id, keychain_id, reference, entropy, salt, iterations, length, digest,
                                  storage_method_id, created_at) VALUES
           ('d0000000-0000-4000-8000-000000000001', 'user-share-one', '{USER_1}', 'c0000000-0000-4000-8000-000000000001',
            NULL, 'user', 'salt-1', 600000, 32, 'SHA-256', 0, '2025-01-01 00:00:01'),
           ('d0000000-0000-4000-8000-000000000002', '{p1}', '{USER_1}', 'c0000000-0000-4000-8000-000000000001',
            'imp-project-1', 'project', NULL, NULL, NULL, NULL, 0, '2025-01-01 00:00:02'),
           ('d0000000-0000-4000-8000-000000000003', 'passkey-share-one', '{USER_1}', 'c0000000-0000-4000-8000-000000000001',
            'imp-passkey-1', 'passkey', NULL, NULL, NULL, NULL, 0, '2025-01-01 00:00:03'),
           ('d0000000-0000-4000-8000-000000000004', '{p2}', '{USER_2}', NULL,
            NULL, 'project', NULL, NULL, NULL, NULL, 0, '2025-01-01 00:00:04'),
           ('d0000000-0000-4000-8000-000000000005', 'deleted', '{USER_2}', NULL,
            'imp-gone', 'user', 'salt', 1, 32, 'SHA-256', 0, '2025-01-01 00:00:05'),
           ('d0000000-0000-4000-8000-000000000006', 'b-user-share', 'a0000000-0000-4000-8000-000000000003', NULL,
            NULL, 'user', 'salt-b', 1000, 32, 'SHA-256', 1, '2025-01-01 00:00:06'),
           ('d0000000-0000-4000-8000-000000000007', '{b_project}', 'a0000000-0000-4000-8000-000000000003', NULL,
            'b-project', 'project', NULL, NULL, NULL, NULL, 0, '2025-01-01 00:00:07');
         UPDATE shld_shares SET deleted_at = CURRENT_TIMESTAMP WHERE id = 'd0000000-0000-4000-8000-000000000005';
         INSERT INTO shld_passkey_references (passkey_id, passkey_env, share_reference) VALUES
           ('passkey-id-1', 'name=Chrome;os=macOS;osVersion=14.1;device=Desktop', 'd0000000-0000-4000-8000-000000000003');",
        p1 = project_share(1, "project-share-one"),
        p2 = project_share(2, "project-share-two"),
        b_project = upstream_encrypt(&key_b, [3; 12], "unmigrated"),
    );
    db.batch_execute(&sql).expect("upstream rows");
    Fixture { part_a }
}

/// `keyward shield import <args>`: its JSON summary (the last line).
fn import(h: &Host, url: &str, args: &[&str]) -> Value {
    let mut all = vec!["shield", "import", "--from", url];
    all.extend_from_slice(args);
    let (ok, out) = h.run(&all);
    assert!(ok, "{out}");
    assert!(!out.contains(A_SECRET) && !out.contains(B_SECRET), "{out}");
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn counts(v: &Value, kind: &str) -> (u64, u64, u64) {
    let c = &v[kind];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{kind}.{k} in {v}"));
    (n("imported"), n("present"), n("skipped"))
}

fn project_get(h: &Host, key: &str, secret: &str) -> u16 {
    request(
        "GET",
        &h.url("/project"),
        &[("x-api-key", key), ("x-api-secret", secret)],
        None,
    )
    .status
}

fn stored_secret(h: &Host, project: &str) -> String {
    ServiceDb::open(&h.state_dir, "shield").text(
        "SELECT api_secret_sha256 FROM projects WHERE id = ?",
        &[Val::from(project)],
    )
}

#[test]
#[ignore = "needs PostgreSQL (the upstream database): runs in the scale-out pass of `cargo xtask test`"]
fn upstream_shield_moves_over_and_shield_js_reads_every_share_with_the_old_credentials() {
    let (url, mut upstream) = upstream_database();
    let fixture = load_upstream(&mut upstream);
    let h = builder().start();

    // Dry run: the counts, nothing written.
    let dry = import(&h, &url, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry, "projects"), (2, 0, 0), "{dry}");
    assert_eq!(counts(&dry, "encryption_keys"), (2, 0, 0), "{dry}");
    assert_eq!(counts(&dry, "providers"), (3, 0, 0), "{dry}");
    assert_eq!(counts(&dry, "users"), (3, 0, 0), "{dry}");
    assert_eq!(counts(&dry, "external_users"), (3, 0, 0), "{dry}");
    // One upstream keychain, two made for the users who had none.
    assert_eq!(counts(&dry, "keychains"), (3, 0, 0), "{dry}");
    // The deleted share is not counted; B's project share waits for upstream's key migration.
    assert_eq!(counts(&dry, "shares"), (5, 0, 1), "{dry}");
    assert_eq!(
        dry["shares_by_entropy"],
        json!({"user": 2, "project": 2, "passkey": 1})
    );
    assert_eq!(
        dry["skipped_rows"][0]["id"],
        "d0000000-0000-4000-8000-000000000007"
    );
    assert_eq!(
        project_get(&h, A_KEY, A_SECRET),
        401,
        "a dry run writes nothing"
    );

    // Project A alone, then everything: the second run adds only what is missing (resume).
    let first = import(&h, &url, &["--project", A]);
    assert_eq!(counts(&first, "projects"), (1, 0, 0), "{first}");
    assert_eq!(counts(&first, "shares"), (4, 0, 0), "{first}");
    let rest = import(&h, &url, &[]);
    assert_eq!(counts(&rest, "projects"), (1, 1, 0), "{rest}");
    assert_eq!(counts(&rest, "shares"), (1, 4, 1), "{rest}");
    assert_eq!(counts(&rest, "keychains"), (1, 1, 0), "{rest}");
    // Idempotent: a third run writes nothing.
    let again = import(&h, &url, &[]);
    for kind in [
        "projects",
        "encryption_keys",
        "providers",
        "users",
        "external_users",
        "shares",
    ] {
        assert_eq!(counts(&again, kind).0, 0, "{kind}: {again}");
    }
    assert_eq!(counts(&again, "keychains"), (0, 1, 0), "{again}");

    // Each run that wrote left one record in shield's audit chain (a dry run leaves none): the
    // counts, the skipped rows only counted, no secrets (docs/OPERATIONS.md, "Audit trail").
    let (_, trail) = h.audit(&["export"]);
    let imports: Vec<Value> = trail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["action"] == "shield.import")
        .collect();
    assert_eq!(imports.len(), 3, "{trail}");
    for r in &imports {
        assert_eq!(
            (&r["service"], &r["actor"], &r["outcome"]),
            (&json!("shield"), &json!("operator"), &json!("success")),
            "{r}"
        );
    }
    assert_eq!(imports[1]["details"]["shares"]["imported"], 1, "{trail}");
    assert_eq!(imports[1]["details"]["skipped_rows"], 1, "{trail}");
    assert!(
        !trail.contains(A_SECRET) && !trail.contains(B_SECRET),
        "{trail}"
    );
    let (ok, verified) = h.audit(&["verify"]);
    assert!(ok, "the imports' records extend the chain: {verified}");

    // The key part is sealed like the service seals it and has no key-check value (imported).
    let mut shield_db = ServiceDb::open(&h.state_dir, "shield");
    let row = shield_db.rows(
        "SELECT db_part, key_check FROM encryption_keys WHERE project_id = ?",
        &[Val::from(A)],
    );
    assert!(
        matches!(row[0][1], Val::Null),
        "no key check: {:?}",
        row[0][1]
    );
    assert!(
        !shield_db.dump().windows(5).any(|w| w == b"user-"),
        "shares are sealed at rest"
    );

    // The old secrets: bcrypt checked once, then replaced by the fast digest.
    assert!(stored_secret(&h, A).starts_with("$2"));
    assert_eq!(project_get(&h, A_KEY, &A_SECRET.replace('3', "4")), 401);
    assert!(
        stored_secret(&h, A).starts_with("$2"),
        "a wrong secret upgrades nothing"
    );
    assert_eq!(project_get(&h, A_KEY, A_SECRET), 200);
    let upgraded = stored_secret(&h, A);
    assert!(
        !upgraded.starts_with('$') && upgraded.len() == 64,
        "{upgraded}"
    );
    assert_eq!(project_get(&h, A_KEY, A_SECRET), 200);
    assert_eq!(project_get(&h, A_KEY, &A_SECRET.to_ascii_uppercase()), 200);
    assert_eq!(
        project_get(&h, B_KEY, B_SECRET),
        200,
        "a legacy UUID secret"
    );
    assert!(stored_secret(&h, B).starts_with("legacy-sha256:"));
    assert_eq!(project_get(&h, B_KEY, B_SECRET), 200);
    assert_eq!(project_get(&h, B_KEY, &B_SECRET.replace('d', "e")), 401);

    // shield-js with the old API key, secret and encryption part reads every imported share.
    let prefix = keyward_e2e::npm_install("@openfort/shield-js@0.1.37");
    let signer = rsa();
    let prefix = prefix.path().to_string_lossy();
    let (one, two) = (tok(&signer, "imp-one"), tok(&signer, "imp-two"));
    keyward_e2e::run_npm_client(
        "shield-import.mjs",
        &[
            ("KEYWARD_URL", &h.base),
            ("SHIELD_API_KEY", A_KEY),
            ("SHIELD_API_SECRET", A_SECRET),
            ("SHIELD_PART", &fixture.part_a),
            ("SHIELD_TOKEN_ONE", &one),
            ("SHIELD_TOKEN_TWO", &two),
            ("SHIELD_JS_PREFIX", &prefix),
        ],
        7,
    );
}
