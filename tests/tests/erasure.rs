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
