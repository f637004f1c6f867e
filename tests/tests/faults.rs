//! Fault injection (docs/RELIABILITY.md, "Fault injection"): the storage under a running host
//! fails — the embedded store's disk fills up, PostgreSQL restarts under write load, Redis stops
//! and starts — and the host must refuse what it cannot store with a clear error, lose no write
//! it acknowledged, and recover without a restart.
//!
//! Each test records its figures (faults injected, requests during the fault, writes
//! acknowledged and found afterwards) for docs/RELIABILITY.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keyward_e2e::keyservice::{self, Session};
use keyward_e2e::{Host, embedded_runtime_config, product_manifest, record_figures, request};

/// A tmpfs of a fixed size, unmounted when dropped: a disk that really fills up.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot mount a tmpfs (the disk-full test needs root, as CI runs it); \
             skip it with `--skip disk`"
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the disk more room, as an operator freeing space would.
    fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot grow the tmpfs");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A key body of `len` bytes that differs per `n` (so a mixed-up read is caught).
fn key_body(n: usize, len: usize) -> Vec<u8> {
    let mut x = u64::try_from(n)
        .unwrap_or(0)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// One write through the whole keyservice flow: /init, /connect, PUT /key. Returns the session
/// when the key was acknowledged (204), or the refusal (status, code) of the step that failed.
fn write_key(
    h: &Host,
    namespace: &str,
    secret: &str,
    n: usize,
    body: &[u8],
) -> Result<Session, (u16, String)> {
    let refusal = |r: &keyward_e2e::Resp| (r.status, r.error_code());
    let init = request("POST", &h.url("/init"), &[], Some(b""));
    if init.status != 200 {
        return Err(refusal(&init));
    }
    let init_token = init.json()["initToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let connect = keyservice::connect(
        &h.base,
        namespace,
        secret,
        &format!("user-{n}"),
        &sessionist::init_token_hash(&init_token),
    );
    if connect.status != 200 {
        return Err(refusal(&connect));
    }
    let session = Session {
        token: connect.json()["sessionToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        init_token,
    };
    let put = keyservice::key(&h.base, &session, "PUT", body);
    if put.status != 204 {
        return Err(refusal(&put));
    }
    Ok(session)
}

/// Every SQLite file under `dir` passes `PRAGMA integrity_check`.
fn assert_intact(dir: &Path) {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("state dir").flatten() {
        let path: PathBuf = entry.path();
        if path.extension().is_some_and(|x| x == "db") {
            let db = rusqlite::Connection::open(&path).expect("open");
            let verdict: String = db
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .expect("integrity_check");
            assert_eq!(verdict, "ok", "{} is damaged", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "no database files in {}", dir.display());
}

#[test]
fn a_full_disk_refuses_writes_clearly_keeps_what_was_stored_and_recovers() {
    let disk = SmallDisk::mount("8m");
    let state = disk.path().join("state");
    let manifest = product_manifest();
    let rc = embedded_runtime_config(&manifest);
    let start = || {
        keyservice::host()
            .vars(keyward_test_kit::scenarios::keyservice::SETTINGS)
            .runtime_config(&rc)
            .state_dir(&state)
            .start()
    };
    let mut h = start();
    let namespace = "disk";
    let secret = keyservice::create_namespace(&h.base, namespace);
    const KEY_BYTES: usize = 48 * 1024;

    // Write until the disk is full.
    let mut acknowledged: Vec<(usize, Session)> = Vec::new();
    let mut n = 0;
    let refused = loop {
        n += 1;
        assert!(n < 2_000, "8 MiB never filled up");
        match write_key(&h, namespace, &secret, n, &key_body(n, KEY_BYTES)) {
            Ok(s) => acknowledged.push((n, s)),
            Err(refusal) => break refusal,
        }
    };
    assert_eq!(
        refused,
        (503, "STORAGE_FULL".to_owned()),
        "a write to a full disk must be refused as STORAGE_FULL; the host's log:\n{}",
        h.log_lines().join("\n")
    );
    // While it is full: every write is refused the same way (or fits, if SQLite found room),
    // and what was stored reads back.
    let mut during = 1;
    for _ in 0..20 {
        n += 1;
        during += 1;
        match write_key(&h, namespace, &secret, n, &key_body(n, KEY_BYTES)) {
            Ok(s) => acknowledged.push((n, s)),
            Err(refusal) => assert_eq!(refusal, (503, "STORAGE_FULL".to_owned())),
        }
    }
    let (first_n, first) = acknowledged.first().expect("nothing fitted on 8 MiB");
    // A key read is audited in its own transaction, so on a full disk it is refused like a
    // write (never served unaudited), or served whole.
    let r = keyservice::key(&h.base, first, "GET", b"");
    match r.status {
        200 => assert_eq!(r.body, key_body(*first_n, KEY_BYTES)),
        _ => assert_eq!((r.status, r.error_code()), (503, "STORAGE_FULL".to_owned())),
    }
    assert_eq!(h.get("/healthz").status, 200);

    // Room again: writes resume without a restart.
    disk.grow("64m");
    let resumed = Instant::now();
    let mut after = None;
    while after.is_none() && resumed.elapsed() < Duration::from_secs(10) {
        n += 1;
        after = write_key(&h, namespace, &secret, n, &key_body(n, KEY_BYTES))
            .ok()
            .map(|s| (n, s));
    }
    let after = after.expect("writes did not resume once the disk had room");
    acknowledged.push(after);

    // Every acknowledged write is there, byte for byte, after a crash and a restart; the files
    // are intact.
    h.kill();
    assert_intact(&state);
    let h = start();
    let mut found = 0;
    for (n, s) in &acknowledged {
        let r = keyservice::key(&h.base, s, "GET", b"");
        assert_eq!(
            r.status,
            200,
            "acknowledged write {n} is gone: {}",
            r.text()
        );
        assert_eq!(
            r.body,
            key_body(*n, KEY_BYTES),
            "write {n} reads back wrong"
        );
        found += 1;
    }
    record_figures(
        "faults",
        "disk-full-embedded",
        &format!(
            "| embedded SQLite's disk full (8 MiB tmpfs, then grown) | embedded | 1 | {during}, all `503 STORAGE_FULL` or stored | {} | {found} | refused clearly, resumed without a restart, files intact |",
            acknowledged.len()
        ),
    );
}
