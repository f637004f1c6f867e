//! A keyservice client for tests that need the flow as a building block (multi-instance, crash
//! and scale tests): operator → /init → /connect (Real Service) → /key, signed with the same
//! `sessionist` crate the components verify with.

use std::sync::{Arc, Mutex, Weak};

use crate::{Host, HostBuilder, Resp, TEST_MASTER_KEY, json, product_manifest, request};

use keyward_test_kit::scenarios::keyservice::SETTINGS;
pub use keyward_test_kit::secrets::ADMIN_TOKEN;

/// The product manifest with the secrets the keyservice needs.
pub fn host() -> HostBuilder {
    HostBuilder::new(product_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
}

/// The product manifest with the settings the test kit's keyservice scenarios run with (no
/// /init rate limit, two CORS origins), as `SPIN_VARIABLE_*`.
pub fn scenario_host() -> HostBuilder {
    host().vars(SETTINGS)
}

/// One [`scenario_host`] for every test running concurrently; it stops when the last one drops
/// it.
pub fn shared_scenario_host() -> Arc<Host> {
    static SHARED: Mutex<Weak<Host>> = Mutex::new(Weak::new());
    crate::shared(&SHARED, || scenario_host().start())
}

/// Creates a namespace through the operator API; returns its secret.
pub fn create_namespace(base: &str, namespace: &str) -> String {
    let body = json!({ "namespace": namespace }).to_string();
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = request(
        "POST",
        &format!("{base}/admin/namespaces"),
        &[("authorization", &auth)],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201, "create namespace: {}", r.text());
    r.json()["secret"].as_str().expect("secret").to_string()
}

/// `POST /init` → the init token.
pub fn init(base: &str) -> String {
    let r = request("POST", &format!("{base}/init"), &[], Some(b""));
    assert_eq!(r.status, 200, "init: {}", r.text());
    r.json()["initToken"]
        .as_str()
        .expect("initToken")
        .to_string()
}

/// A request signed with the ss1 header for "now", sent to `base`.
pub fn signed(
    base: &str,
    keyid: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Resp {
    let (auth, date) = sign(keyid, secret, method, path, body);
    send_signed(base, method, path, body, &auth, &date)
}

/// The `Authorization` and `X-Date` values for a request, so a test can send it twice.
pub fn sign(keyid: &str, secret: &str, method: &str, path: &str, body: &[u8]) -> (String, String) {
    let s = sessionist::sign_now(keyid, secret, method, path, body).expect("sign");
    (s.authorization, s.date)
}

pub fn send_signed(
    base: &str,
    method: &str,
    path: &str,
    body: &[u8],
    auth: &str,
    date: &str,
) -> Resp {
    request(
        method,
        &format!("{base}{path}"),
        &[("authorization", auth), ("x-date", date)],
        Some(body),
    )
}

/// The Real Service's `/connect` for `user` with the client's init token hash.
pub fn connect(
    base: &str,
    namespace: &str,
    secret: &str,
    user: &str,
    init_token_hash: &str,
) -> Resp {
    let body = json!({ "namespace": namespace, "userId": user, "initTokenHash": init_token_hash })
        .to_string();
    signed(base, namespace, secret, "POST", "/connect", body.as_bytes())
}

/// A client session: (session token, init token).
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub init_token: String,
}

/// The whole handshake for one user.
pub fn session(base: &str, namespace: &str, secret: &str, user: &str) -> Session {
    let init_token = init(base);
    let r = connect(
        base,
        namespace,
        secret,
        user,
        &sessionist::init_token_hash(&init_token),
    );
    assert_eq!(r.status, 200, "connect: {}", r.text());
    let token = r.json()["sessionToken"]
        .as_str()
        .expect("sessionToken")
        .to_string();
    Session { token, init_token }
}

/// `PUT/GET/DELETE /key` for a session.
pub fn key(base: &str, s: &Session, method: &str, body: &[u8]) -> Resp {
    signed(base, &s.token, &s.init_token, method, "/key", body)
}
