//! keyservice scenarios (docs/keyservice.md, "Conformance checklist"), each written once against
//! a [`Driver`] and run natively (keyservice-service's tests) and over HTTP (keyward-e2e's
//! `scenarios` test). The three parties' requests are built by the client functions below.

use std::sync::atomic::{AtomicU64, Ordering};

use guest_kit::Request;
use serde_json::json;

use crate::driver::Driver;
use crate::reply::Reply;
use crate::secrets::ADMIN_TOKEN;

/// The database label.
pub const DB: &str = "keyservice";

/// The variables both drivers run these scenarios with (the HTTP driver as `SPIN_VARIABLE_*`):
/// no /init rate limit, since every scenario calls it from one address (the limit has its own
/// tests), and two CORS origins.
pub const SETTINGS: &[(&str, &str)] = &[
    ("admin_token", ADMIN_TOKEN),
    ("init_rate_limit_per_minute", "0"),
    (
        "cors_allowed_origins",
        "https://app.example, https://other.example",
    ),
];

pub const AUTH_FAILED: &str = "authentication failed";
pub const DATE_MESSAGE: &str = "request date missing, unparseable or outside the allowed window";

// ---------------------------------------------------------------------------------------------
// The three parties

/// A name unique within this process (scenarios share one deployment over HTTP).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{n}-{t:x}")
}

/// Tokens are 32 random bytes, base64url without padding.
#[track_caller]
pub fn assert_token(t: &str) {
    assert_eq!(t.len(), 43, "{t}");
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{t}"
    );
}

/// Operator: a request with the admin bearer token.
pub fn admin(d: &dyn Driver, method: &str, path: &str, body: &str) -> Reply {
    d.call(
        method,
        path,
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        body.as_bytes(),
    )
}

/// Operator: creates a namespace, returns its secret.
#[track_caller]
pub fn create_namespace(d: &dyn Driver, ns: &str, cidrs: &[&str]) -> String {
    let body = json!({"namespace": ns, "allowed_cidrs": cidrs}).to_string();
    let r = admin(d, "POST", "/admin/namespaces", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let secret = r.json()["secret"].as_str().expect("secret").to_owned();
    assert_token(&secret);
    secret
}

/// Client: `POST /init` → the init token.
#[track_caller]
pub fn init(d: &dyn Driver) -> String {
    let r = d.post("/init", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json()["initToken"]
        .as_str()
        .expect("initToken")
        .to_owned();
    assert_token(&t);
    t
}

/// What the client sends to the Real Service (docs/keyservice.md, "Design: init tokens").
pub fn init_hash(init_token: &str) -> String {
    sessionist::init_token_hash(init_token)
}

/// A request signed at the driver's clock, with `X-Date` and a fresh CSPRNG nonce.
pub fn signed_request(
    d: &dyn Driver,
    keyid: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Request {
    let s = sessionist::sign_at(keyid, secret, method, path, body, d.now_secs()).expect("sign");
    Request::new(method, path)
        .with_header("Authorization", s.authorization)
        .with_header("X-Date", s.date)
        .with_body(body.to_vec())
}

/// [`signed_request`], with `extra` headers, sent.
pub fn signed(
    d: &dyn Driver,
    keyid: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = signed_request(d, keyid, secret, method, path, body);
    for (k, v) in extra {
        req = req.with_header(k, v);
    }
    d.send(req)
}

/// Real Service: the signed `POST /connect` request.
pub fn connect_request(d: &dyn Driver, ns: &str, secret: &str, user: &str, hash: &str) -> Request {
    let body = json!({"namespace": ns, "userId": user, "initTokenHash": hash}).to_string();
    signed_request(d, ns, secret, "POST", "/connect", body.as_bytes())
}

/// Real Service: `POST /connect`.
pub fn connect(d: &dyn Driver, ns: &str, secret: &str, user: &str, hash: &str) -> Reply {
    d.send(connect_request(d, ns, secret, user, hash))
}

/// A client session.
#[derive(Debug, Clone)]
pub struct Session {
    pub namespace: String,
    pub user_id: String,
    pub init_token: String,
    pub session_token: String,
}

/// Client + Real Service: init, then connect → a live session.
#[track_caller]
pub fn session(d: &dyn Driver, ns: &str, secret: &str, user: &str) -> Session {
    let init_token = init(d);
    let r = connect(d, ns, secret, user, &init_hash(&init_token));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let session_token = r.json()["sessionToken"]
        .as_str()
        .expect("sessionToken")
        .to_owned();
    assert_token(&session_token);
    Session {
        namespace: ns.to_owned(),
        user_id: user.to_owned(),
        init_token,
        session_token,
    }
}

/// Client: the signed `/key` request (keyid = session token, secret = init token).
pub fn key_request(d: &dyn Driver, s: &Session, method: &str, body: &[u8]) -> Request {
    signed_request(d, &s.session_token, &s.init_token, method, "/key", body)
}

/// Client: `/key`, with a `Content-Type` when given.
pub fn key(d: &dyn Driver, s: &Session, method: &str, body: &[u8], ctype: Option<&str>) -> Reply {
    let mut req = key_request(d, s, method, body);
    if let Some(c) = ctype {
        req = req.with_header("Content-Type", c);
    }
    d.send(req)
}

/// An ss1 401: the error shape, the message and `WWW-Authenticate: ss1`.
#[track_caller]
pub fn assert_401(r: &Reply, message: &str) {
    r.assert_error_message(401, "AUTH_INVALID", message);
    assert_eq!(r.header("www-authenticate"), Some("ss1"));
}
