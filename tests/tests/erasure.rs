//! Erasure (docs/OPERATIONS.md, "Erasure"): a deleted key leaves nothing recoverable in the live
//! database files. On the embedded pass the raw database file and its write-ahead log are scanned
//! for the erased ciphertexts; on the PostgreSQL pass the rows are gone (what PostgreSQL keeps
//! until VACUUM is documented, not scanned).

use keyward_e2e::Backend;
use keyward_e2e::db::ServiceDb;
use keyward_e2e::keyservice as ks;

/// Every byte of the keyservice database's files (the file and its WAL), as the disk holds them.
fn raw_files(state: &std::path::Path) -> Vec<u8> {
    ["keyservice.db", "keyservice.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(state.join(f)).ok())
        .flatten()
        .collect()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn an_erased_key_leaves_no_trace_in_the_database_files() {
    let h = ks::host().start();
    let secret = ks::create_namespace(&h.base, "erasing");
    let s = ks::session(&h.base, "erasing", &secret, "alice");
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    let stored = |db: &mut ServiceDb| db.text("SELECT value_ct FROM ks_key", &[]);

    assert_eq!(ks::key(&h.base, &s, "PUT", &[0x5a; 2048]).status, 204);
    let first = stored(&mut db);
    // Overwritten, then erased: neither the old nor the last value may stay behind.
    assert_eq!(ks::key(&h.base, &s, "PUT", &[0xa5; 2048]).status, 204);
    let second = stored(&mut db);
    let embedded = Backend::from_env() == Backend::Embedded;
    if embedded {
        // The scan finds what is there: before the erasure, the live value is in the files.
        assert!(
            contains(&raw_files(&h.state_dir), &second),
            "the scan sees stored values"
        );
    }

    assert_eq!(ks::key(&h.base, &s, "DELETE", b"").status, 204);
    assert_eq!(db.int("SELECT COUNT(*) FROM ks_key", &[]), 0);
    if embedded {
        let files = raw_files(&h.state_dir);
        assert!(
            !contains(&files, &first),
            "the overwritten ciphertext is still in the files"
        );
        assert!(
            !contains(&files, &second),
            "the erased ciphertext is still in the files"
        );
    }
}

#[test]
fn the_operator_erases_one_user_in_one_call() {
    let h = ks::host().start();
    let secret = ks::create_namespace(&h.base, "erasing");
    let alice = ks::session(&h.base, "erasing", &secret, "alice/with%slash");
    let bob = ks::session(&h.base, "erasing", &secret, "bob");
    assert_eq!(ks::key(&h.base, &alice, "PUT", &[0x5a; 512]).status, 204);
    assert_eq!(ks::key(&h.base, &bob, "PUT", b"bob-stays").status, 204);
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    let alices = db.text(
        "SELECT value_ct FROM ks_key WHERE user_id = ?",
        &["alice/with%slash".into()],
    );

    let auth = format!("Bearer {}", ks::ADMIN_TOKEN);
    let r = h.req(
        "DELETE",
        "/admin/namespaces/erasing/users/alice%2Fwith%25slash",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sessions_revoked"], 1);
    assert_eq!(r.json()["key_erased"], true);

    // Her session is gone with her key; bob's are untouched.
    assert_eq!(ks::key(&h.base, &alice, "GET", b"").status, 401);
    assert_eq!(ks::key(&h.base, &bob, "GET", b"").body, b"bob-stays");
    let r = h.req(
        "DELETE",
        "/admin/namespaces/erasing/users/alice%2Fwith%25slash",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 404, "nothing left of her: {}", r.text());
    if Backend::from_env() == Backend::Embedded {
        assert!(!contains(&raw_files(&h.state_dir), &alices));
    }
    let (ok, trail) = h.audit(&["export", "--service", "keyservice"]);
    assert!(ok);
    let erase = trail
        .lines()
        .find(|l| l.contains("\"user.erase\""))
        .expect("a user.erase record");
    assert!(erase.contains("\"erased\":true"), "{erase}");
}
