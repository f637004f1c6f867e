//! keyservice end to end (docs/keyservice.md, "Conformance checklist"): the real `spin.toml` and components, served by
//! `keyward serve` on 127.0.0.1, spoken to over HTTP exactly as the three parties would.
//!
//! Most tests share one host (`main_host`, kept alive while any test holds it) and isolate
//! themselves by namespace; tests that need other variables or a restart start their own.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use keyward_e2e::db::{ServiceDb, Val};
use keyward_e2e::{Host, HostBuilder, Resp, TEST_MASTER_KEY, Value, json, product_manifest};

use keyward_test_kit::scenarios::keyservice::{
    AUTH_FAILED, assert_token, http_date, init_hash, nonce, unique,
};
use keyward_test_kit::secrets::{ADMIN_TOKEN, CORS_ORIGIN as ORIGIN};

// ---------------------------------------------------------------------------------------------
// Hosts

/// The product manifest with a master key and an admin token; `init_rate_limit_per_minute = 0`
/// because every test here calls `/init` from 127.0.0.1 (the rate limit has its own host).
fn builder() -> HostBuilder {
    HostBuilder::new(product_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "0")
        .env("SPIN_VARIABLE_CORS_ALLOWED_ORIGINS", ORIGIN)
}

/// Starts a host on `state` (the harness shares one compiled-component cache between hosts).
fn start_in(b: HostBuilder, state: &Path) -> Host {
    b.state_dir(state).start()
}

/// A host with its own temporary state directory (removed after the host stops).
struct KsHost {
    host: Host,
    _state: tempfile::TempDir,
}

impl std::ops::Deref for KsHost {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

fn start(b: HostBuilder) -> KsHost {
    let state = tempfile::tempdir().expect("tempdir");
    KsHost {
        host: start_in(b, state.path()),
        _state: state,
    }
}

/// One host shared by the tests that run concurrently; it stops when the last one drops it
/// (only a `Weak` is kept here, so nothing outlives the test process).
fn main_host() -> Arc<KsHost> {
    static SHARED: Mutex<Weak<KsHost>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = slot.upgrade() {
        return host;
    }
    let host = Arc::new(start(builder()));
    *slot = Arc::downgrade(&host);
    host
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// The three parties

fn admin(h: &Host, method: &str, path: &str, body: Option<Value>) -> Resp {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let body = body.map(|b| b.to_string().into_bytes());
    h.req(method, path, &[("authorization", &bearer)], body.as_deref())
}

/// Operator: creates a namespace, returns its secret.
fn create_namespace(h: &Host, ns: &str, cidrs: &[&str]) -> String {
    let r = admin(
        h,
        "POST",
        "/admin/namespaces",
        Some(json!({"namespace": ns, "allowed_cidrs": cidrs})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    assert_token(&secret);
    secret
}

/// Client: `POST /init`.
fn init(h: &Host) -> String {
    let r = h.post("/init", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json()["initToken"]
        .as_str()
        .expect("initToken")
        .to_string();
    assert_token(&t);
    t
}

/// A signed request as the sessionist client sends it (`X-Date`, fresh nonce, date = now).
fn signed(
    h: &Host,
    keyid: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Resp {
    let s = sessionist::sign_now(keyid, secret, method, path, body).expect("sign");
    let mut headers = vec![
        ("authorization", s.authorization.as_str()),
        ("x-date", s.date.as_str()),
    ];
    headers.extend_from_slice(extra);
    h.req(method, path, &headers, Some(body))
}

/// Real Service: `POST /connect`.
fn connect(h: &Host, ns: &str, secret: &str, user: &str, hash: &str) -> Resp {
    let body = json!({"namespace": ns, "userId": user, "initTokenHash": hash}).to_string();
    signed(h, ns, secret, "POST", "/connect", body.as_bytes(), &[])
}

/// Client + Real Service: a live session, returned as (sessionToken, initToken).
fn session(h: &Host, ns: &str, secret: &str, user: &str) -> (String, String) {
    let init_token = init(h);
    let r = connect(h, ns, secret, user, &init_hash(&init_token));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let st = r.json()["sessionToken"]
        .as_str()
        .expect("sessionToken")
        .to_string();
    assert_token(&st);
    (st, init_token)
}

/// Client: `/key` with keyid = session token, secret = init token.
fn key(h: &Host, s: &(String, String), method: &str, body: &[u8], ctype: Option<&str>) -> Resp {
    let extra: Vec<(&str, &str)> = ctype.map(|c| ("content-type", c)).into_iter().collect();
    signed(h, &s.0, &s.1, method, "/key", body, &extra)
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.error_code(), code, "{}", r.text());
    assert_eq!(
        r.json().as_object().map(|o| o.len()),
        Some(2),
        "error body has exactly message and code: {}",
        r.text()
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
}

fn assert_401(r: &Resp, message: &str) {
    assert_error(r, 401, "AUTH_INVALID");
    assert_eq!(r.json()["message"], message, "{}", r.text());
    assert_eq!(r.header("www-authenticate"), Some("ss1"));
}

// ---------------------------------------------------------------------------------------------
// The database file

/// Everything the deployment keeps at rest: every file under the state directory except the
/// compiled-component cache, or (scale-out pass) every PostgreSQL row and Redis value.
fn state_bytes(dir: &Path) -> Vec<u8> {
    keyward_e2e::db::at_rest(dir)
}

/// `keyservice.db` plus its `-wal` (the recent writes live there before a checkpoint); on the
/// scale-out pass, every row of the keyservice database.
fn keyservice_db_bytes(dir: &Path) -> Vec<u8> {
    if !on_disk() {
        let out = open_db(dir).dump();
        assert!(!out.is_empty(), "nothing in the keyservice database");
        return out;
    }
    let mut out = Vec::new();
    for name in ["keyservice.db", "keyservice.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            out.extend_from_slice(&b);
        }
    }
    assert!(!out.is_empty(), "no keyservice.db under {}", dir.display());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no plaintext form of `secret` (raw, hex, base64) is anywhere in the state dir.
fn assert_not_stored(dir: &Path, what: &str, secret: &[u8]) {
    let db = keyservice_db_bytes(dir);
    let all = state_bytes(dir);
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (form, needle) in [
        ("raw", secret.to_vec()),
        ("base64", b64.encode(secret).into_bytes()),
        ("base64url", b64url.encode(secret).into_bytes()),
        (
            "hex",
            secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        ),
    ] {
        assert!(!contains(&db, &needle), "{what} ({form}) in keyservice.db");
        assert!(!contains(&all, &needle), "{what} ({form}) in the state dir");
    }
}

/// Whether the keyservice database is the embedded SQLite file under the state directory (not
/// PostgreSQL: the scale-out pass, `KEYWARD_TEST_BACKEND=scale-out`).
fn on_disk() -> bool {
    keyward_e2e::Backend::from_env() == keyward_e2e::Backend::Embedded
}

/// keyservice's database, on whichever backend this pass runs.
fn open_db(dir: &Path) -> ServiceDb {
    ServiceDb::open(dir, "keyservice")
}

// ---------------------------------------------------------------------------------------------
// checklist 35 and friends: the whole flow with live tokens

// ---------------------------------------------------------------------------------------------
// checklist 10: init tokens

#[test]
fn replay_is_rejected_also_after_a_restart() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut h = start_in(builder(), state.path());
    let ns = unique("replay");
    let ns_secret = create_namespace(&h, &ns, &[]);
    let a = session(&h, &ns, &ns_secret, "alice");
    let b = session(&h, &ns, &ns_secret, "bob");
    assert_eq!(key(&h, &a, "PUT", b"alice's key", None).status, 204);

    // A GET and a /connect, each sent once.
    let d = http_date(now_ms() / 1000);
    let n = nonce(&h);
    let get_auth = sessionist::sign(&a.0, &a.1, "GET", "/key", b"", &d, &n).expect("sign");
    let get_headers = [("authorization", get_auth.as_str()), ("x-date", d.as_str())];
    let r = h.req("GET", "/key", &get_headers, None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alice's key"[..]));
    assert_401(&h.req("GET", "/key", &get_headers, None), AUTH_FAILED);

    // The same nonce (and date) under another keyid is accepted (bob has nothing stored).
    let other = sessionist::sign(&b.0, &b.1, "GET", "/key", b"", &d, &n).expect("sign");
    let r = h.req(
        "GET",
        "/key",
        &[("authorization", &other), ("x-date", &d)],
        None,
    );
    assert_error(&r, 404, "KEY_NOT_FOUND");

    let init_token = init(&h);
    let body = json!({"namespace": ns, "userId": "carol", "initTokenHash": init_hash(&init_token)})
        .to_string();
    let cn = nonce(&h);
    let connect_auth = sessionist::sign(
        &ns,
        &ns_secret,
        "POST",
        "/connect",
        body.as_bytes(),
        &d,
        &cn,
    )
    .expect("sign");
    let connect_headers = [
        ("authorization", connect_auth.as_str()),
        ("x-date", d.as_str()),
    ];
    let r = h.req("POST", "/connect", &connect_headers, Some(body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());

    // Restart on the same state directory.
    h.kill();
    let h = start_in(builder(), state.path());
    assert_401(&h.req("GET", "/key", &get_headers, None), AUTH_FAILED);
    assert_401(
        &h.req("POST", "/connect", &connect_headers, Some(body.as_bytes())),
        AUTH_FAILED,
    );
    assert_401(
        &h.req(
            "GET",
            "/key",
            &[("authorization", &other), ("x-date", &d)],
            None,
        ),
        AUTH_FAILED,
    );
    // Sessions and values survived; fresh requests work.
    let r = key(&h, &a, "GET", b"", None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alice's key"[..]));
}

// ---------------------------------------------------------------------------------------------
// checklist 13: single use under concurrency

// ---------------------------------------------------------------------------------------------
// checklist 11, 12, 14, 17: /connect validation

// ---------------------------------------------------------------------------------------------
// checklist 26–29: operator API, secret rotation, namespace deletion

#[test]
fn operator_api_rotation_and_deletion() {
    let h = main_host();
    let ns = unique("ops");

    // checklist 26: wrong or missing bearer → 401 with WWW-Authenticate: Bearer.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic abc"),
        Some(ADMIN_TOKEN),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = h.req("GET", "/admin/namespaces", &headers, None);
        assert_error(&r, 401, "AUTH_INVALID");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }

    // checklist 27: create, normalised CIDRs, list without secrets, duplicates, bad input.
    let r = admin(
        &h,
        "POST",
        "/admin/namespaces",
        Some(json!({"namespace": ns, "allowed_cidrs": ["127.0.0.5/8", "2001:db8::1"]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["namespace"], ns.as_str());
    assert_eq!(
        created["allowed_cidrs"],
        json!(["127.0.0.0/8", "2001:db8::1/128"])
    );
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert_token(&secret);

    let r = admin(&h, "GET", "/admin/namespaces", None);
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(&secret), "list shows no secrets");
    let list = r.json()["namespaces"].as_array().expect("list").clone();
    let names: Vec<&str> = list
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    let entry = list
        .iter()
        .find(|n| n["namespace"] == ns.as_str())
        .expect("listed");
    assert_eq!(
        entry["allowed_cidrs"],
        json!(["127.0.0.0/8", "2001:db8::1/128"])
    );
    assert!(
        entry["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{entry}"
    );
    assert!(entry["secret_rotated_at"].is_null());
    assert!(entry.get("secret").is_none());

    assert_error(
        &admin(
            &h,
            "POST",
            "/admin/namespaces",
            Some(json!({"namespace": ns})),
        ),
        409,
        "NAMESPACE_EXISTS",
    );
    for body in [
        json!({"namespace": "has|pipe"}),
        json!({"namespace": "-leading"}),
        json!({"namespace": "x".repeat(65)}),
        json!({"namespace": ""}),
        json!({"namespace": unique("ok"), "allowed_cidrs": ["1.2.3.4/33"]}),
        json!({"namespace": unique("ok"), "allowed_cidrs": ["not an address"]}),
        json!({"namespace": unique("ok"), "extra": true}),
    ] {
        assert_error(
            &admin(&h, "POST", "/admin/namespaces", Some(body)),
            400,
            "BAD_REQUEST",
        );
    }

    // A session and a value to watch through the changes below (peer is 127.0.0.1).
    let s = session(&h, &ns, &secret, "u");
    assert_eq!(key(&h, &s, "PUT", b"kept", None).status, 204);

    // checklist 28: PUT allowed-cidrs keeps keys and sessions.
    let r = admin(
        &h,
        "PUT",
        &format!("/admin/namespaces/{ns}/allowed-cidrs"),
        Some(json!({"allowed_cidrs": ["127.0.0.1"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"namespace": ns, "allowed_cidrs": ["127.0.0.1/32"]})
    );
    assert_eq!(key(&h, &s, "GET", b"", None).body, b"kept");
    assert_error(
        &admin(
            &h,
            "PUT",
            &format!("/admin/namespaces/{}/allowed-cidrs", unique("missing")),
            Some(json!({"allowed_cidrs": []})),
        ),
        404,
        "NAMESPACE_NOT_FOUND",
    );

    // checklist 28: rotate → the old secret stops at once, the new one works, sessions unaffected.
    let r = admin(
        &h,
        "POST",
        &format!("/admin/namespaces/{ns}/rotate-secret"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["namespace"], ns.as_str());
    let new_secret = r.json()["secret"].as_str().expect("secret").to_string();
    assert_token(&new_secret);
    assert_ne!(new_secret, secret);
    let t = init(&h);
    assert_401(
        &connect(&h, &ns, &secret, "u2", &init_hash(&t)),
        AUTH_FAILED,
    );
    assert_eq!(
        connect(&h, &ns, &new_secret, "u2", &init_hash(&t)).status,
        200
    );
    assert_eq!(key(&h, &s, "GET", b"", None).body, b"kept");
    let listed = admin(&h, "GET", "/admin/namespaces", None).json();
    let entry = listed["namespaces"]
        .as_array()
        .and_then(|l| l.iter().find(|n| n["namespace"] == ns.as_str()).cloned())
        .expect("listed");
    assert!(
        entry["secret_rotated_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_error(
        &admin(
            &h,
            "POST",
            &format!("/admin/namespaces/{}/rotate-secret", unique("missing")),
            None,
        ),
        404,
        "NAMESPACE_NOT_FOUND",
    );
    assert_not_stored(
        &h.state_dir,
        "rotated namespace secret",
        new_secret.as_bytes(),
    );

    // checklist 29: delete → sessions 401, values gone from the database; unknown → 404.
    let r = admin(&h, "DELETE", &format!("/admin/namespaces/{ns}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_401(&key(&h, &s, "GET", b"", None), AUTH_FAILED);
    let mut db = open_db(&h.state_dir);
    for table in ["ks_key", "ks_session", "ks_namespace"] {
        let n = db.int(
            &format!("SELECT count(*) FROM {table} WHERE namespace = ?1"),
            &[(&ns).into()],
        );
        assert_eq!(n, 0, "{table} rows left for a deleted namespace");
    }
    drop(db);

    assert_error(
        &admin(&h, "DELETE", &format!("/admin/namespaces/{ns}"), None),
        404,
        "NAMESPACE_NOT_FOUND",
    );
    let t = init(&h);
    assert_401(
        &connect(&h, &ns, &new_secret, "u", &init_hash(&t)),
        AUTH_FAILED,
    );
}

#[test]
fn operator_api_disabled_without_admin_token() {
    let h = start(
        HostBuilder::new(product_manifest()).env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY),
    );
    for (method, path, auth) in [
        ("GET", "/admin/namespaces", None),
        ("GET", "/admin/namespaces", Some("Bearer ")),
        ("GET", "/admin/namespaces", Some("Bearer anything")),
        ("POST", "/admin/namespaces", Some("Bearer anything")),
        ("DELETE", "/admin/namespaces/x", None),
        ("POST", "/admin/namespaces/x/rotate-secret", None),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = h.req(method, path, &headers, Some(br#"{"namespace":"x"}"#));
        assert_error(&r, 403, "ADMIN_DISABLED");
    }
}

// ---------------------------------------------------------------------------------------------
// checklist 21, 24: isolation between users and namespaces

#[test]
fn values_are_isolated_by_user_and_namespace() {
    let h = main_host();
    let ns = unique("iso");
    let ns_secret = create_namespace(&h, &ns, &[]);
    let ns2 = unique("iso2");
    let ns2_secret = create_namespace(&h, &ns2, &[]);

    let alice1 = session(&h, &ns, &ns_secret, "alice");
    let alice2 = session(&h, &ns, &ns_secret, "alice");
    let bob = session(&h, &ns, &ns_secret, "bob");
    let alice_elsewhere = session(&h, &ns2, &ns2_secret, "alice");
    assert_ne!(alice1.0, alice2.0);

    let secret_value = b"alice's secret value 5f0c";
    assert_eq!(key(&h, &alice1, "PUT", secret_value, None).status, 204);
    // Two sessions of one (namespace, userId) share the value.
    assert_eq!(key(&h, &alice2, "GET", b"", None).body, secret_value);
    // Another user or namespace never sees it.
    assert_error(&key(&h, &bob, "GET", b"", None), 404, "KEY_NOT_FOUND");
    assert_error(
        &key(&h, &alice_elsewhere, "GET", b"", None),
        404,
        "KEY_NOT_FOUND",
    );
    // Bob's writes and deletes only touch bob's row.
    assert_eq!(key(&h, &bob, "PUT", b"bob's", None).status, 204);
    assert_eq!(key(&h, &bob, "DELETE", b"", None).status, 204);
    assert_eq!(key(&h, &alice1, "GET", b"", None).body, secret_value);
    // Signing with bob's session but alice's init token fails.
    assert_401(
        &signed(&h, &bob.0, &alice1.1, "GET", "/key", b"", &[]),
        AUTH_FAILED,
    );

    {
        // checklist 24: copy alice's ciphertext into bob's row → bob gets 500, never alice's value.
        assert_eq!(key(&h, &bob, "PUT", b"bob's", None).status, 204);
        let changed = open_db(&h.state_dir).execute(
            "UPDATE ks_key SET value_ct = (SELECT value_ct FROM ks_key WHERE namespace = ?1 AND user_id = 'alice') \
             WHERE namespace = ?1 AND user_id = 'bob'",
            &[(&ns).into()],
        );
        assert_eq!(changed, 1);
        let r = key(&h, &bob, "GET", b"", None);
        assert_error(&r, 500, "INTERNAL");
        assert!(!contains(&r.body, secret_value));
        assert_eq!(r.json()["message"], "internal error");
        // Also across namespaces.
        assert_eq!(key(&h, &alice_elsewhere, "PUT", b"x", None).status, 204);
        let changed = open_db(&h.state_dir).execute(
            "UPDATE ks_key SET value_ct = (SELECT value_ct FROM ks_key WHERE namespace = ?1 AND user_id = 'alice') \
             WHERE namespace = ?2 AND user_id = 'alice'",
            &[(&ns).into(), (&ns2).into()],
        );
        assert_eq!(changed, 1);
        let r = key(&h, &alice_elsewhere, "GET", b"", None);
        assert_error(&r, 500, "INTERNAL");
        assert!(!contains(&r.body, secret_value));
    }
    assert_eq!(key(&h, &alice1, "GET", b"", None).body, secret_value);
}

// ---------------------------------------------------------------------------------------------
// checklist 15: the allow-list against the platform peer address (127.0.0.1 here)

#[test]
fn allow_list_uses_the_peer_address() {
    let h = main_host();
    let inside = unique("cidr-in");
    let inside_secret = create_namespace(&h, &inside, &["127.0.0.0/8"]);
    let outside = unique("cidr-out");
    let outside_secret = create_namespace(&h, &outside, &["203.0.113.0/24", "2001:db8::/32"]);
    let open = unique("cidr-none");
    let open_secret = create_namespace(&h, &open, &[]);

    let t = init(&h);
    let hash = init_hash(&t);
    let r = connect(&h, &outside, &outside_secret, "u", &hash);
    assert_error(&r, 403, "IP_NOT_ALLOWED");
    // A forged forwarding header does not help: client_addr_header is not configured.
    let body = json!({"namespace": outside, "userId": "u", "initTokenHash": hash}).to_string();
    let r = signed(
        &h,
        &outside,
        &outside_secret,
        "POST",
        "/connect",
        body.as_bytes(),
        &[
            ("x-forwarded-for", "203.0.113.10"),
            ("spin-client-addr", "203.0.113.10:1"),
        ],
    );
    assert_error(&r, 403, "IP_NOT_ALLOWED");
    // The 403s did not use up the token.
    assert_eq!(connect(&h, &inside, &inside_secret, "u", &hash).status, 200);
    let t = init(&h);
    assert_eq!(
        connect(&h, &open, &open_secret, "u", &init_hash(&t)).status,
        200
    );
    // Authentication comes first: a bad signature on an allow-listed namespace is 401.
    assert_401(
        &connect(&h, &outside, "wrong", "u", &init_hash(&t)),
        AUTH_FAILED,
    );
}

// ---------------------------------------------------------------------------------------------
// checklist 16, 30: behind a proxy (client_addr_header = x-forwarded-for) and the /init rate limit

#[test]
fn forwarded_address_and_init_rate_limit() {
    let h = start(
        HostBuilder::new(product_manifest())
            .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SPIN_VARIABLE_CLIENT_ADDR_HEADER", "x-forwarded-for")
            .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "3"),
    );
    let init_from = |xff: &str| h.req("POST", "/init", &[("x-forwarded-for", xff)], Some(b""));
    // Buckets are keyed by the right-most address; use a fresh one per /init needed below.
    let token_from = |xff: &str| -> String {
        let r = init_from(xff);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["initToken"].as_str().expect("token").to_string()
    };

    // checklist 30: three per minute from one address, then 429 with Retry-After.
    // (If the minute turns over mid-test the counter resets; retry once in that case.)
    let mut limited = None;
    for attempt in 0..2 {
        let addr = format!("198.51.100.{}", 10 + attempt);
        let start_minute = now_ms() / 60_000;
        let statuses: Vec<Resp> = (0..4)
            .map(|_| init_from(&format!("10.9.9.9, {addr}")))
            .collect();
        if now_ms() / 60_000 != start_minute {
            continue;
        }
        for r in &statuses[..3] {
            assert_eq!(r.status, 200, "{}", r.text());
        }
        limited = Some(statuses[3].clone());
        break;
    }
    let r = limited.expect("a run within one minute");
    assert_error(&r, 429, "RATE_LIMITED");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Another right-most address has its own bucket; the left-most entry does not matter.
    assert_eq!(init_from("198.51.100.10, 192.0.2.50").status, 200);

    // checklist 16: the right-most entry decides the allow-list.
    let ns = unique("proxy");
    let secret = create_namespace(&h, &ns, &["203.0.113.0/24"]);
    let conn = |hash: &str, xff: Option<&str>| {
        let body = json!({"namespace": ns, "userId": "u", "initTokenHash": hash}).to_string();
        let extra: Vec<(&str, &str)> = xff.map(|x| ("x-forwarded-for", x)).into_iter().collect();
        signed(
            &h,
            &ns,
            &secret,
            "POST",
            "/connect",
            body.as_bytes(),
            &extra,
        )
    };
    let hash = init_hash(&token_from("192.0.2.1"));
    assert_error(
        &conn(&hash, Some("203.0.113.10, 198.51.100.1")),
        403,
        "IP_NOT_ALLOWED",
    );
    assert_error(&conn(&hash, None), 403, "IP_NOT_ALLOWED");
    assert_error(&conn(&hash, Some("not-an-ip")), 403, "IP_NOT_ALLOWED");
    assert_eq!(conn(&hash, Some("198.51.100.1, 203.0.113.10")).status, 200);
    let hash = init_hash(&token_from("192.0.2.2"));
    assert_eq!(conn(&hash, Some("203.0.113.77")).status, 200);
    // Without an allow-list a missing header is fine.
    let open = unique("proxy-open");
    let open_secret = create_namespace(&h, &open, &[]);
    let hash = init_hash(&token_from("192.0.2.3"));
    assert_eq!(connect(&h, &open, &open_secret, "u", &hash).status, 200);
}

// ---------------------------------------------------------------------------------------------
// checklist 23, 12 (expired init token), 9 (expired session): lifetimes, with small TTLs

#[test]
fn session_ttl_idle_timeout_and_init_token_ttl() {
    let h = start(
        HostBuilder::new(product_manifest())
            .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "0")
            .env("SPIN_VARIABLE_SESSION_TTL_SECONDS", "5")
            .env("SPIN_VARIABLE_SESSION_IDLE_SECONDS", "2")
            .env("SPIN_VARIABLE_INIT_TOKEN_TTL_SECONDS", "2"),
    );
    let ns = unique("ttl");
    let secret = create_namespace(&h, &ns, &[]);
    let stale_init = init(&h);
    let idle = session(&h, &ns, &secret, "idle");
    assert_eq!(key(&h, &idle, "PUT", b"i", None).status, 204);
    let active = session(&h, &ns, &secret, "active");
    // Time base: just after the active session was created (its 5 s lifetime started earlier).
    let created = Instant::now();
    assert_eq!(key(&h, &active, "PUT", b"a", None).status, 204);

    // The active session is used every ~0.5 s for 3 s, longer than the 2 s idle timeout.
    let tick = || std::thread::sleep(Duration::from_millis(500));
    while created.elapsed() < Duration::from_millis(3000) {
        tick();
        let r = key(&h, &active, "GET", b"", None);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"a"[..]),
            "active session at {:?}",
            created.elapsed()
        );
    }
    // The idle one (unused for > 3 s) died; its 401 looks exactly like an unknown keyid's.
    let r = key(&h, &idle, "GET", b"", None);
    assert_401(&r, AUTH_FAILED);
    let unknown = signed(
        &h,
        "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "x",
        "GET",
        "/key",
        b"",
        &[],
    );
    assert_eq!(r.body, unknown.body);
    // The init token issued before everything else is past init_token_ttl_seconds (2 s).
    assert_error(
        &connect(&h, &ns, &secret, "late", &init_hash(&stale_init)),
        409,
        "INIT_TOKEN_INVALID",
    );
    // Keep the active session busy until shortly before its absolute end, then pass it: it is
    // gone although it was never idle for 2 s.
    let mut last_use = Instant::now();
    while created.elapsed() < Duration::from_millis(3800) {
        tick();
        assert_eq!(key(&h, &active, "GET", b"", None).status, 200);
        last_use = Instant::now();
    }
    while created.elapsed() < Duration::from_millis(5300) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = key(&h, &active, "GET", b"", None);
    assert!(
        last_use.elapsed() < Duration::from_secs(2),
        "the machine is too slow to tell the absolute TTL from the idle timeout"
    );
    assert_401(&r, AUTH_FAILED);
    assert_eq!(r.body, unknown.body);
}

// ---------------------------------------------------------------------------------------------
// checklist 34: CORS

#[test]
fn cors_for_browser_routes_only() {
    let h = main_host();
    let r = h.req(
        "OPTIONS",
        "/key",
        &[
            ("origin", ORIGIN),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "authorization, x-date, content-type",
            ),
        ],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(r.header("vary").is_some_and(|v| v.contains("Origin")));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, PUT, DELETE")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization, x-date, content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));

    let r = h.req("OPTIONS", "/init", &[("origin", ORIGIN)], None);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));

    // Actual requests from the allowed origin carry the header; others do not.
    let r = h.req("POST", "/init", &[("origin", ORIGIN)], Some(b""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    let r = h.req(
        "POST",
        "/init",
        &[("origin", "https://evil.example")],
        Some(b""),
    );
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = h.req("GET", "/key", &[("origin", ORIGIN)], None);
    assert_401(&r, AUTH_FAILED);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));

    // /connect and /admin never send CORS headers.
    let ns = unique("cors");
    let secret = create_namespace(&h, &ns, &[]);
    let t = init(&h);
    let body = json!({"namespace": ns, "userId": "u", "initTokenHash": init_hash(&t)}).to_string();
    let r = signed(
        &h,
        &ns,
        &secret,
        "POST",
        "/connect",
        body.as_bytes(),
        &[("origin", ORIGIN)],
    );
    assert_eq!(r.status, 200);
    for r in [
        r,
        h.req("OPTIONS", "/connect", &[("origin", ORIGIN)], None),
        h.req("OPTIONS", "/admin/namespaces", &[("origin", ORIGIN)], None),
        h.req(
            "GET",
            "/admin/namespaces",
            &[
                ("origin", ORIGIN),
                ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ],
            None,
        ),
    ] {
        assert!(
            r.headers
                .iter()
                .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
            "{:?}",
            r.headers
        );
    }
}

// ---------------------------------------------------------------------------------------------
// checklist 31, docs/keyservice.md, "Design: conventions": route and size errors

// ---------------------------------------------------------------------------------------------
// checklist 32: master_key missing or malformed

/// The product manifest with `master_key` optional and empty by default. The real manifest says
/// `required = true`, so a deployment without a key does not start at all (asserted below);
/// this variant is the only way to observe the components' own 503 for a missing key, which
/// matters under hosts that let an empty required secret through.
fn manifest_with_optional_master_key() -> String {
    let m = product_manifest();
    let line = "master_key = { required = true, secret = true }";
    assert!(
        m.contains(line),
        "spin.toml declares master_key differently now"
    );
    m.replace(line, "master_key = { default = \"\", secret = true }")
}

fn assert_not_configured_everywhere(h: &Host) {
    let t = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let body = json!({"namespace": "ns", "userId": "u", "initTokenHash": init_hash(t)}).to_string();
    for r in [
        h.post("/init", b""),
        signed(h, "ns", "s", "POST", "/connect", body.as_bytes(), &[]),
        signed(h, t, t, "GET", "/key", b"", &[]),
        signed(h, t, t, "PUT", "/key", b"v", &[]),
        admin(
            h,
            "POST",
            "/admin/namespaces",
            Some(json!({"namespace": "ns"})),
        ),
        admin(h, "POST", "/admin/namespaces/ns/rotate-secret", None),
    ] {
        assert_error(&r, 503, "NOT_CONFIGURED");
    }
    // Nothing was stored: no pending init token, no namespace.
    // (The tables may not even exist: nothing needed them.)
    if on_disk() && !h.state_dir.join("keyservice.db").exists() {
        return;
    }
    let mut db = open_db(&h.state_dir);
    for table in ["ks_init_token", "ks_namespace", "ks_session", "ks_key"] {
        if let Ok(rows) = db.try_rows(&format!("SELECT count(*) FROM {table}"), &[]) {
            assert_eq!(rows, vec![vec![Val::Int(0)]], "{table}");
        }
    }
}

#[test]
fn master_key_malformed_is_503() {
    for bad in [
        "not base64 at all",
        "c2hvcnQ=",
        "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4MA",
    ] {
        let h = start(
            HostBuilder::new(product_manifest())
                .env("SPIN_VARIABLE_MASTER_KEY", bad)
                .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN),
        );
        assert_not_configured_everywhere(&h);
        let logs = h.log_lines().join("\n");
        assert!(!logs.contains(bad), "the key appears in the host log");
    }
}

#[test]
fn master_key_missing_stops_the_start_or_is_503() {
    assert!(
        std::env::var_os("SPIN_VARIABLE_MASTER_KEY").is_none(),
        "SPIN_VARIABLE_MASTER_KEY is set in the test environment; unset it to test a missing key"
    );
    // The product manifest: a required variable without a value stops the start, naming it.
    let err = match HostBuilder::new(product_manifest())
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
        .try_start()
    {
        Ok(_) => panic!("keyward started without the required master_key"),
        Err(e) => e,
    };
    assert!(
        err.contains("master_key"),
        "start error does not name master_key: {err}"
    );

    // With master_key optional and empty, every secret-bearing route answers 503.
    let h = start(
        HostBuilder::new(manifest_with_optional_master_key())
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN),
    );
    assert_not_configured_everywhere(&h);
}

// ---------------------------------------------------------------------------------------------
// Upstream client compatibility: the npm package `sessionistheader` 0.1.14 (GPL-3.0; installed
// into a temporary directory at test time, never copied into the repository) drives the whole
// flow through `tests/npm/sessionist-client.mjs`.

#[test]
fn npm_sessionistheader_client_interoperates() {
    let prefix = keyward_e2e::npm_install("sessionistheader@0.1.14");

    let h = main_host();
    let ns = unique("npm");
    let secret = create_namespace(&h, &ns, &["127.0.0.1"]);
    let script = keyward_e2e::repo_root().join("tests/npm/sessionist-client.mjs");
    let out = keyward_e2e::node_tool("node")
        .arg(&script)
        .env("KEYWARD_URL", &h.base)
        .env("KS_NAMESPACE", &ns)
        .env("KS_SECRET", &secret)
        .env("KS_USER_ID", "npm-user")
        .env("SESSIONIST_PREFIX", prefix.path())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {} failed:\n{stdout}{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["ok"], true, "{stdout}");
    assert_eq!(
        summary["steps"].as_array().map(Vec::len),
        Some(8),
        "{stdout}"
    );
    // The session the npm client made is real: a session row for its user exists.
    let sessions = open_db(&h.state_dir).int(
        "SELECT count(*) FROM ks_session WHERE namespace = ?1 AND user_id = 'npm-user'",
        &[(&ns).into()],
    );
    assert_eq!(sessions, 1);
}
