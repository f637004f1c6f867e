//! Master-key rotation end to end (docs/platform.md, "Design: sealing at rest"): the product on
//! one state directory, restarted with a new `master_key` and the old one in
//! `master_key_previous`. Runs on both passes (embedded SQLite, then PostgreSQL).

use keyward_e2e::db::ServiceDb;
use keyward_e2e::keyservice::{self as ks, Session};
use keyward_e2e::{Host, HostBuilder, TEST_MASTER_KEY, guardian as gd, shield as sh};

const NEW_MASTER_KEY: &str = "q0mZ3pP4o2zG0d0zGm5xYtq1wE8Jt3yq7g7Yy4w2v9k=";

fn product(state: &std::path::Path, okta: u16) -> HostBuilder {
    keyward_e2e::product_host(okta).state_dir(state)
}

fn rotated(state: &std::path::Path, okta: u16) -> HostBuilder {
    product(state, okta)
        .env("SPIN_VARIABLE_MASTER_KEY", NEW_MASTER_KEY)
        .env("SPIN_VARIABLE_MASTER_KEY_PREVIOUS", TEST_MASTER_KEY)
}

/// The id a v2 envelope names (its bytes 1 to 4), hex.
fn sealing_key_id(envelope: &str) -> String {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(envelope)
        .expect("base64");
    assert_eq!(raw[0], 2, "a v2 envelope");
    hex::encode(&raw[1..5])
}

fn key_id(master: &str) -> String {
    hex::encode(envelope::MasterKey::parse(master).unwrap().id().unwrap())
}

/// What was stored under the first key, to read back under the second.
struct Stored {
    session: Session,
    /// The shield project's id, API key, secret and encryption part.
    project: (String, String, String, String),
    user_token: String,
    address: String,
}

impl Stored {
    fn project<'h>(&self, h: &'h Host) -> sh::Project<'h> {
        let (id, key, secret, part) = self.project.clone();
        sh::Project {
            d: h,
            id,
            key,
            secret,
            part: Some(part),
        }
    }
}

fn sign_address(h: &Host, user: &str) -> String {
    let token = gd::token_of(&gd::login(h, user));
    let r = gd::get(h, "/guardian/sign", &token);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["public_address"].as_str().unwrap().to_owned()
}

fn share_secret(h: &Host, s: &Stored) -> (u16, String) {
    let project = s.project(h);
    let (_, _, _, part) = &s.project;
    let session = sh::session(h, &project, part);
    let r = sh::cu(
        h,
        &project,
        &s.user_token,
        "GET",
        "/shares",
        &[("X-Encryption-Session", &session)],
        None,
    );
    let secret = r.json()["secret"].as_str().unwrap_or_default().to_owned();
    (r.status, secret)
}

/// A keyservice key (namespace `name`, user alice), a shield share and a guardian user `name`,
/// stored through `h`; what reads them back.
fn store_one_of_each(h: &Host, name: &str) -> Stored {
    let secret = ks::create_namespace(&h.base, name);
    let session = ks::session(&h.base, name, &secret, "alice");
    assert_eq!(
        ks::key(&h.base, &session, "PUT", b"sealed-first").status,
        204
    );
    let project = sh::register(h, true);
    sh::pem_provider(h, &project, &sh::rsa(), "rsa");
    let user_token = sh::tok(&sh::rsa(), &format!("{name}-user"));
    let part = project.part.clone().unwrap();
    let share = sh::project_share("default", Some(&part), None);
    sh::ok(
        &sh::cu(
            h,
            &project,
            &user_token,
            "POST",
            "/shares",
            &[],
            Some(share),
        ),
        201,
    );
    let address = sign_address(h, name);
    Stored {
        session,
        project: (project.id, project.key, project.secret, part),
        user_token,
        address,
    }
}

#[test]
fn after_a_rotation_everything_sealed_under_the_previous_key_still_reads() {
    let okta = gd::okta_stub();
    let state = tempfile::tempdir().unwrap();

    // Under the first key: a keyservice key, a shield share, a guardian user.
    let h = product(state.path(), okta.port).start();
    let stored = store_one_of_each(&h, "rotating");
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    let first = db.text("SELECT value_ct FROM ks_key", &[]);
    assert_eq!(sealing_key_id(&first), key_id(TEST_MASTER_KEY));
    drop(h);

    // Rotated: the new key seals, the previous one still opens.
    let h = rotated(state.path(), okta.port).start();
    let r = ks::key(&h.base, &stored.session, "GET", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"sealed-first"[..]));
    assert_eq!(
        share_secret(&h, &stored),
        (200, "secret-default".to_owned())
    );
    assert_eq!(sign_address(&h, "rotating"), stored.address);
    assert_eq!(
        ks::key(&h.base, &stored.session, "PUT", b"sealed-second").status,
        204
    );
    let second = db.text("SELECT value_ct FROM ks_key", &[]);
    assert_eq!(sealing_key_id(&second), key_id(NEW_MASTER_KEY));
    // The audit trail spans both keys: each record names the key that linked it.
    let (ok, out) = h.audit(&["verify"]);
    assert!(ok, "{out}");
    drop(h);

    // Without the previous key, what only it sealed no longer opens; the rest does.
    let h = product(state.path(), okta.port)
        .env("SPIN_VARIABLE_MASTER_KEY", NEW_MASTER_KEY)
        .start();
    let r = ks::key(&h.base, &stored.session, "GET", b"");
    assert_eq!(
        r.status, 500,
        "the session's init token is sealed under the old key"
    );
    let after = ks::create_namespace(&h.base, "after");
    let fresh = ks::session(&h.base, "after", &after, "bob");
    assert_eq!(ks::key(&h.base, &fresh, "PUT", b"sealed-third").status, 204);
    assert_eq!(ks::key(&h.base, &fresh, "GET", b"").body, b"sealed-third");
}

// ---- the master key in Vault -----------------------------------------------------------------

const VAULT_TOKEN: &str = "vault-root-token-for-the-test-7c1f";

/// A stand-in for HashiCorp Vault's KV v2 engine (`GET /v1/<mount>/data/<path>`, the token in
/// `X-Vault-Token`, the secret's fields under `data.data`) holding `secrets` under mount `secret`.
fn vault(secrets: &[(&str, &str)]) -> keyward_e2e::Stub {
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .map(|(p, v)| (format!("/v1/secret/data/{p}"), (*v).to_owned()))
        .collect();
    keyward_e2e::Stub::start(move |req| {
        let json = |status: u16, v: serde_json::Value| {
            (status, "application/json", v.to_string().into_bytes())
        };
        if req.header("x-vault-token") != Some(VAULT_TOKEN) {
            return json(403, serde_json::json!({"errors": ["permission denied"]}));
        }
        match secrets.iter().find(|(p, _)| *p == req.target) {
            Some((_, value)) => json(
                200,
                serde_json::json!({"data": {"data": {"value": value}, "metadata": {"version": 1}}}),
            ),
            None => json(404, serde_json::json!({"errors": []})),
        }
    })
}

fn vault_provider(port: u16, token: &str) -> String {
    format!(
        "[[variables_provider]]\ntype = \"vault\"\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{token}\"\nmount = \"secret\"\nprefix = \"keyward\"\n"
    )
}

#[test]
fn a_host_with_its_master_key_only_in_vault_serves() {
    let stub = vault(&[
        ("keyward/master_key", NEW_MASTER_KEY),
        ("keyward/admin_token", ks::ADMIN_TOKEN),
    ]);
    // No SPIN_VARIABLE_MASTER_KEY: the key comes from Vault alone.
    let h = HostBuilder::new(keyward_e2e::product_manifest())
        .runtime_config(&vault_provider(stub.port, VAULT_TOKEN))
        .start();
    let secret = ks::create_namespace(&h.base, "vaulted");
    let s = ks::session(&h.base, "vaulted", &secret, "alice");
    assert_eq!(ks::key(&h.base, &s, "PUT", b"kept-by-vault").status, 204);
    assert_eq!(ks::key(&h.base, &s, "GET", b"").body, b"kept-by-vault");
    // Sealed under the key Vault holds.
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    let ct = db.text("SELECT value_ct FROM ks_key", &[]);
    assert_eq!(sealing_key_id(&ct), key_id(NEW_MASTER_KEY));
    let asked: Vec<String> = stub.requests().into_iter().map(|r| r.target).collect();
    assert!(
        asked.contains(&"/v1/secret/data/keyward/master_key".to_owned()),
        "{asked:?}"
    );
}

#[test]
fn a_wrong_or_unreachable_vault_stops_the_start_naming_it() {
    let stub = vault(&[
        ("keyward/master_key", NEW_MASTER_KEY),
        ("keyward/admin_token", "not-the-point"),
    ]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for (port, token, why) in [
        (stub.port, "a-wrong-token-5d2e", "403"),
        (closed_port, VAULT_TOKEN, "cannot reach it"),
    ] {
        let err = HostBuilder::new(keyward_e2e::product_manifest())
            .runtime_config(&vault_provider(port, token))
            .start_refused("with a wrong or unreachable vault");
        assert!(
            err.contains(&format!(
                "variables provider `vault` at http://127.0.0.1:{port} (mount `secret`)"
            )),
            "{err}"
        );
        assert!(err.contains(why), "{err}");
        for secret in [token, VAULT_TOKEN, NEW_MASTER_KEY] {
            assert!(!err.contains(secret), "the refusal printed a secret: {err}");
        }
    }
}

// ---- keyward rewrap ------------------------------------------------------------------------

#[test]
fn after_rewrap_the_previous_key_can_be_removed() {
    let okta = gd::okta_stub();
    let state = tempfile::tempdir().unwrap();
    let h = product(state.path(), okta.port).start();
    let stored = store_one_of_each(&h, "rewrapped");
    drop(h);

    // Rotated, and re-sealed while the host serves.
    let h = rotated(state.path(), okta.port).start();
    let (ok, out) = h.run(&["rewrap"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("0 failed to open; 0 values remain under a previous key"),
        "{out}"
    );
    let (ok, again) = h.run(&["rewrap"]);
    assert!(
        ok && again.contains(" 0 re-sealed,"),
        "a rerun has nothing to do: {again}"
    );
    let mut db = ServiceDb::open(&h.state_dir, "keyservice");
    assert_eq!(
        sealing_key_id(&db.text("SELECT value_ct FROM ks_key", &[])),
        key_id(NEW_MASTER_KEY)
    );
    let (_, trail) = h.audit(&["export"]);
    assert!(
        trail.contains("\"master_key.rewrap\""),
        "the re-wrap is audited"
    );
    let (ok, verified) = h.audit(&["verify"]);
    assert!(ok, "the re-wrap's record extends the chain: {verified}");
    drop(h);

    // Only the new key now: everything still reads.
    let h = product(state.path(), okta.port)
        .env("SPIN_VARIABLE_MASTER_KEY", NEW_MASTER_KEY)
        .start();
    let r = ks::key(&h.base, &stored.session, "GET", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"sealed-first"[..]));
    assert_eq!(
        share_secret(&h, &stored),
        (200, "secret-default".to_owned())
    );
    assert_eq!(sign_address(&h, "rewrapped"), stored.address);
}

#[test]
fn a_rewrap_killed_partway_finishes_when_run_again() {
    use std::io::{BufRead, BufReader};
    let state = tempfile::tempdir().unwrap();
    let with_tokens = |b: HostBuilder| b.env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "0");
    let h = with_tokens(ks::host().state_dir(state.path())).start();
    for _ in 0..60 {
        ks::init(&h.base);
    }
    drop(h);
    let h = with_tokens(
        ks::host()
            .state_dir(state.path())
            .env("SPIN_VARIABLE_MASTER_KEY", NEW_MASTER_KEY)
            .env("SPIN_VARIABLE_MASTER_KEY_PREVIOUS", TEST_MASTER_KEY),
    )
    .start();

    // One row per page, killed after a few pages.
    let mut child = h
        .command(&["rewrap", "--batch", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let progress = lines
        .map_while(Result::ok)
        .filter(|l| l.contains("ks_init_token.token_ct"))
        .take(5)
        .count();
    assert_eq!(progress, 5, "the re-wrap reports each page");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (ok, out) = h.run(&["rewrap"]);
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("database keyservice ("))
        .unwrap_or_default();
    let number = |after: &str| -> u64 {
        line.split(after)
            .next()
            .and_then(|s| s.rsplit([' ', ':']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before {after:?} in {line}"))
    };
    let (resealed, current) = (number(" re-sealed"), number(" already current"));
    assert!(current >= 5, "the killed run's pages stayed done: {line}");
    assert!(resealed > 0, "the rerun did the rest: {line}");
    assert!(
        line.ends_with("0 values remain under a previous key"),
        "{line}"
    );
}
