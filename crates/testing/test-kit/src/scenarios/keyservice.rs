//! keyservice scenarios (docs/keyservice.md, "Conformance checklist"), each written once against
//! a [`Driver`] and run natively (keyservice-service's tests) and over HTTP (keyward-e2e's
//! `scenarios` test). The three parties' requests are built by the client functions below.

use std::sync::atomic::{AtomicU64, Ordering};

use guest_kit::Request;
use serde_json::json;

use crate::driver::Driver;
use crate::reply::Reply;
use crate::secrets::{ADMIN_TOKEN, CORS_ORIGIN, CORS_OTHER_ORIGIN};

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

/// One `#[test]` for every scenario in this module, run on `$driver` (see
/// [`crate::scenario_tests`]): each driver's test file calls this, so the list is written once.
#[macro_export]
macro_rules! keyservice_scenario_tests {
    ($driver:expr) => {
        $crate::scenario_tests!(keyservice, $driver;
            whole_flow,
            init_tokens_are_distinct_and_sealed,
            concurrent_connects_one_wins,
            connect_validation,
            allow_list_uses_the_peer_address,
            values_are_isolated_by_user_and_namespace,
            operator_api,
            cors,
            routing_and_body_limits,
            openapi_is_served,
            ss1_header_rules,
        );
    };
}

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
    token_in(&admin(d, "POST", "/admin/namespaces", &body), 201, "secret")
}

/// The token a success with `status` carries in `field`: answered `no-store`, and shaped as a
/// token.
#[track_caller]
pub fn token_in(r: &Reply, status: u16, field: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json()[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {}", r.text()))
        .to_owned();
    assert_token(&t);
    t
}

/// Client: `POST /init` → the init token.
#[track_caller]
pub fn init(d: &dyn Driver) -> String {
    token_in(&d.post("/init", b""), 200, "initToken")
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
    let session_token = token_in(&r, 200, "sessionToken");
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn sealer(info: &str) -> envelope::Sealer {
    let master = envelope::MasterKey::parse(crate::secrets::MASTER_KEY).expect("master");
    envelope::Sealer::new(&master, info.as_bytes()).expect("sealer")
}

/// An envelope v2 under the test master key (docs/platform.md, "Design: sealing at rest"):
/// base64 of 0x02 ‖ key id(4) ‖ nonce(12) ‖ ct ‖ tag(16).
#[track_caller]
fn assert_envelope(ct: &str, plaintext_len: usize) {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(ct)
        .expect("envelope is base64");
    let master = envelope::MasterKey::parse(crate::secrets::MASTER_KEY).expect("master");
    assert_eq!(raw[0], 0x02, "envelope version");
    assert_eq!(raw[1..5], master.id().expect("key id"), "sealing key");
    assert_eq!(raw.len(), 1 + 4 + 12 + plaintext_len + 16);
}

/// `ct` is an envelope of `plain` sealed under `info` that opens with `aad`.
#[track_caller]
fn assert_sealed(ct: &str, info: &str, aad: &str, plain: &[u8]) {
    assert_envelope(ct, plain.len());
    let opened = sealer(info).open(ct, aad.as_bytes());
    assert_eq!(opened.expect("opens with its AAD"), plain, "{info}");
}

/// Where keyservice keeps a sealed secret by its key (docs/keyservice.md, "Design: storage and
/// sealing"): the query for the envelope, the envelope's info, and its AAD before the key.
struct SealedAt {
    sql: &'static str,
    info: &'static str,
    aad: &'static str,
}

const NAMESPACE_SECRET: SealedAt = SealedAt {
    sql: "SELECT secret_ct FROM ks_namespace WHERE namespace = ?",
    info: "keyward/keyservice/namespace-secret/v1",
    aad: "keyservice|namespace|",
};
const SESSION_INIT_TOKEN: SealedAt = SealedAt {
    sql: "SELECT init_token_ct FROM ks_session WHERE token_digest = ?",
    info: "keyward/keyservice/session/v1",
    aad: "keyservice|session|",
};
const INIT_TOKEN: SealedAt = SealedAt {
    sql: "SELECT token_ct FROM ks_init_token WHERE token_hash = ?",
    info: "keyward/keyservice/init-token/v1",
    aad: "keyservice|init|",
};

/// What is stored at `at` for `key` is an envelope of `plain` that opens under its AAD.
#[track_caller]
fn assert_sealed_at(d: &dyn Driver, at: &SealedAt, key: &str, plain: &[u8]) {
    let ct = d.text_row(DB, at.sql, &[key.into()]);
    assert_sealed(&ct[0], at.info, &format!("{}{key}", at.aad), plain);
}

/// Asserts that no plaintext form of `secret` (raw, hex, base64, base64url) is kept at rest.
#[track_caller]
fn assert_not_stored(d: &dyn Driver, what: &str, secret: &[u8]) {
    use base64::Engine as _;
    let all = d.at_rest(DB);
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (form, needle) in [
        ("raw", secret.to_vec()),
        ("base64", b64.encode(secret).into_bytes()),
        ("base64url", b64url.encode(secret).into_bytes()),
        ("hex", hex::encode(secret).into_bytes()),
    ] {
        assert!(!contains(&all, &needle), "{what} ({form}) at rest");
    }
}

/// `hex(SHA-256(token))`: how the session row is keyed (docs/keyservice.md, "Design: storage and
/// sealing").
fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// checklist 35 and friends: the whole flow with live tokens

/// The worked flow (docs/keyservice.md, "Design: test vectors") with live tokens: operator,
/// client, Real Service, and what the database holds meanwhile.
pub fn whole_flow(d: &dyn Driver) {
    let ns = unique("flow");
    let ns_secret = create_namespace(d, &ns, &[]);

    // Client: /init (checklist 10); a body is ignored.
    let r = d.post("/init", b"ignored body");
    let init_token = token_in(&r, 200, "initToken");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("date").is_some(), "every response carries Date");
    let hash = init_hash(&init_token);
    assert_eq!(hash.len(), 88);

    // Real Service: /connect (checklist 12).
    let r = connect(d, &ns, &ns_secret, "347", &hash);
    let session_token = token_in(&r, 200, "sessionToken");
    assert!(r.header("date").is_some());
    assert!(r.header("access-control-allow-origin").is_none());
    let s = Session {
        namespace: ns.clone(),
        user_id: "347".into(),
        init_token: init_token.clone(),
        session_token: session_token.clone(),
    };

    // Client: nothing stored yet (checklist 20).
    key(d, &s, "GET", b"", None).assert_error_message(404, "KEY_NOT_FOUND", "no key stored");

    // PUT / GET (checklist 18, 33).
    let value =
        br#"{"kty":"oct","alg":"A256GCM","k":"_86LpU8FeJ9ahn-47_AuRnKuiGM2HsyzalBj4KOlTs8"}"#;
    assert_eq!(value.len(), 79);
    let r = key(d, &s, "PUT", value, Some("application/json"));
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());

    // GET, then the identical request again (docs/keyservice.md, "Design: test vectors" step 5).
    let get = key_request(d, &s, "GET", b"");
    let r = d.send(get.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, value);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_401(&d.send(get), AUTH_FAILED);

    // While a value is stored: the database holds envelopes only (checklist 25), each opening
    // under its own AAD only.
    let row = d.text_row(
        DB,
        "SELECT value_ct, content_type FROM ks_key WHERE namespace = ? AND user_id = '347'",
        &[ns.as_str().into()],
    );
    assert_eq!(row[1], "application/json");
    let value_info = "keyward/keyservice/value/v1";
    assert_sealed(&row[0], value_info, &format!("keyservice|{ns}|347"), value);
    let other_user = format!("keyservice|{ns}|348");
    assert!(
        sealer(value_info)
            .open(&row[0], other_user.as_bytes())
            .is_err()
    );
    assert_sealed_at(d, &NAMESPACE_SECRET, &ns, ns_secret.as_bytes());
    let digest = sha256_hex(&session_token);
    let row = d.text_row(
        DB,
        "SELECT namespace, user_id FROM ks_session WHERE token_digest = ?",
        &[digest.as_str().into()],
    );
    assert_eq!((row[0].as_str(), row[1].as_str()), (ns.as_str(), "347"));
    assert_sealed_at(d, &SESSION_INIT_TOKEN, &digest, init_token.as_bytes());
    assert_not_stored(d, "key value", value);
    assert_not_stored(d, "init token", init_token.as_bytes());
    assert_not_stored(d, "session token", session_token.as_bytes());
    assert_not_stored(d, "namespace secret", ns_secret.as_bytes());

    // Arbitrary bytes without Content-Type; a second PUT replaces (checklist 18, 19).
    let binary = [0x00, 0xff, 0xfe, 0x80, b'\n', 0x00, 0xc3, 0x28];
    assert_eq!(key(d, &s, "PUT", &binary, None).status, 204);
    let r = key(d, &s, "GET", b"", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, binary);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // Limits (checklist 19): exactly max_key_bytes is fine, one more is 413, empty is 400, and
    // a Content-Type must be a short printable string.
    let max = vec![b'k'; 65_536];
    assert_eq!(
        key(d, &s, "PUT", &max, Some("text/plain; charset=utf-8")).status,
        204
    );
    let r = key(d, &s, "GET", b"", None);
    assert_eq!((r.status, r.body.len()), (200, 65_536));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    key(d, &s, "PUT", &vec![b'k'; 65_537], None).assert_error(413, "PAYLOAD_TOO_LARGE");
    key(d, &s, "PUT", b"", None).assert_error(400, "BAD_REQUEST");
    // (Control characters and non-UTF-8 cannot be sent over HTTP: native key_values test.)
    for bad_ct in ["", &"a".repeat(256)] {
        key(d, &s, "PUT", b"x", Some(bad_ct)).assert_error(400, "BAD_REQUEST");
    }

    // DELETE erases; idempotent (checklist 20).
    let r = key(d, &s, "DELETE", b"", None);
    assert_eq!(r.status, 204, "{}", r.text());
    key(d, &s, "GET", b"", None).assert_error(404, "KEY_NOT_FOUND");
    assert_eq!(key(d, &s, "DELETE", b"", None).status, 204);
    let rows = d.int(
        DB,
        "SELECT count(*) FROM ks_key WHERE namespace = ?",
        &[ns.as_str().into()],
    );
    assert_eq!(rows, 0, "DELETE removes the row");

    // The session survives DELETE /key.
    assert_eq!(key(d, &s, "PUT", b"again", None).status, 204);

    // An init token yields one session, ever (checklist 12).
    connect(d, &ns, &ns_secret, "347", &hash).assert_error_message(
        409,
        "INIT_TOKEN_INVALID",
        "init token unknown, expired or already used",
    );
    assert_not_stored(d, "key value", value);
    assert_not_stored(d, "key value", &binary);
}

// ---------------------------------------------------------------------------------------------
// checklist 10, 25: init tokens

/// 1 000 calls from 8 threads → 1 000 distinct tokens, each stored as its SHA-512 hex and an
/// envelope that opens to it under its AAD, never in plaintext.
pub fn init_tokens_are_distinct_and_sealed(d: &dyn Driver) {
    let tokens: Vec<String> = crate::race(8, |_| (0..125).map(|_| init(d)).collect::<Vec<_>>())
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(tokens.len(), 1000);
    let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 1000, "1 000 calls → 1 000 distinct tokens");

    let stored: std::collections::HashSet<String> = d
        .sql(DB, "SELECT token_hash FROM ks_init_token", &[])
        .iter()
        .filter_map(|r| r.text(0).map(str::to_owned))
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        let token_hash = hex::encode(sessionist::init_token_digest(t));
        assert!(stored.contains(&token_hash), "no row for token {i}");
        if i < 20 {
            assert_sealed_at(d, &INIT_TOKEN, &token_hash, t.as_bytes());
        }
    }
    let all = d.at_rest(DB);
    for t in tokens.iter().step_by(10) {
        assert!(!contains(&all, t.as_bytes()), "init token at rest");
    }
}

// ---------------------------------------------------------------------------------------------
// checklist 13: single use under concurrency

/// 20 concurrent /connect with one init token hash: exactly one session.
pub fn concurrent_connects_one_wins(d: &dyn Driver) {
    const N: usize = 20;
    let ns = unique("race");
    let ns_secret = create_namespace(d, &ns, &[]);
    let hash = init_hash(&init(d));
    // Signed up front so the requests leave together; each goes over its own connection.
    let reqs: Vec<Request> = (0..N)
        .map(|i| connect_request(d, &ns, &ns_secret, &format!("u{i}"), &hash))
        .collect();
    let statuses: Vec<(u16, String)> = crate::race(N, |i| {
        let r = d.send(reqs[i].clone());
        let code = if r.status == 200 {
            String::new()
        } else {
            r.error_code()
        };
        (r.status, code)
    });
    let wins = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(s, c)| *s == 200 || (*s == 409 && c == "INIT_TOKEN_INVALID")),
        "{statuses:?}"
    );
    let sessions = d.int(
        DB,
        "SELECT count(*) FROM ks_session WHERE namespace = ?",
        &[ns.as_str().into()],
    );
    assert_eq!(sessions, 1);
}

// ---------------------------------------------------------------------------------------------
// checklist 11, 12, 14, 17: /connect validation

/// The hash encodings, the body's shape and userId, never-issued tokens, and namespace
/// mismatches; none of the failures uses the init token up.
pub fn connect_validation(d: &dyn Driver) {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let ns = unique("connect");
    let ns_secret = create_namespace(d, &ns, &[]);
    let other_ns = unique("connect-other");
    let other_secret = create_namespace(d, &other_ns, &[]);
    let raw = |body: &[u8]| signed(d, &ns, &ns_secret, "POST", "/connect", body, &[]);

    // checklist 11: the 88-char padded base64 and the 86-char base64url forms are accepted.
    let t = init(d);
    let padded = STANDARD.encode(sessionist::init_token_digest(&t));
    assert_eq!(padded.len(), 88);
    let r = connect(d, &ns, &ns_secret, "u", &padded);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = init(d);
    let url = URL_SAFE_NO_PAD.encode(sessionist::init_token_digest(&t));
    assert_eq!(url.len(), 86);
    let r = connect(d, &ns, &ns_secret, "u", &url);
    assert_eq!(r.status, 200, "{}", r.text());

    // Hex, unpadded standard base64, a 63-byte digest → 400 (and the token stays pending).
    // Unpadded standard base64 differs from base64url only where it has `+` or `/` (about 1 in
    // 15 digests has neither, and is then a valid base64url hash), so pick a token whose has.
    let t = loop {
        let t = init(d);
        if STANDARD
            .encode(sessionist::init_token_digest(&t))
            .contains(['+', '/'])
        {
            break t;
        }
    };
    let digest = sessionist::init_token_digest(&t);
    for bad in [
        hex::encode(digest),
        STANDARD.encode(digest).trim_end_matches('=').to_owned(),
        STANDARD.encode(&digest[..63]),
        URL_SAFE_NO_PAD.encode(&digest[..63]),
        String::new(),
    ] {
        connect(d, &ns, &ns_secret, "u", &bad).assert_error(400, "BAD_REQUEST");
    }
    // checklist 17: userId and body shape.
    let hash = init_hash(&t);
    let long = "é".repeat(128) + "x"; // 257 bytes
    for body in [
        json!({"namespace": ns, "userId": 347, "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "", "initTokenHash": hash}),
        json!({"namespace": ns, "userId": long, "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "x".repeat(257), "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "a\u{7f}b", "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "a\nb", "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "u", "initTokenHash": hash, "extra": 1}),
        json!({"namespace": ns, "initTokenHash": hash}),
        json!({"namespace": ns, "userId": "u", "initTokenHash": null}),
        // The field values as a JSON array: not an object, 400 (serde alone would take it).
        json!([ns, "u", hash]),
        json!("a string"),
    ] {
        raw(body.to_string().as_bytes()).assert_error(400, "BAD_REQUEST");
    }
    raw(b"{not json").assert_error(400, "BAD_REQUEST");
    let duplicate =
        format!(r#"{{"namespace":"{ns}","namespace":"{ns}","userId":"u","initTokenHash":"x"}}"#);
    raw(duplicate.as_bytes()).assert_error(400, "BAD_REQUEST");
    // 256 bytes exactly is fine, and the token was not used up by the failures above.
    let r = connect(d, &ns, &ns_secret, &"é".repeat(128), &hash);
    assert_eq!(r.status, 200, "{}", r.text());

    // checklist 12: never issued → 409.
    connect(d, &ns, &ns_secret, "u", &init_hash("never-issued-token"))
        .assert_error(409, "INIT_TOKEN_INVALID");

    // checklist 14: signed for A with body namespace B → 403; unknown namespace keyid → 401.
    let t = init(d);
    let body = json!({"namespace": other_ns, "userId": "u", "initTokenHash": init_hash(&t)});
    raw(body.to_string().as_bytes()).assert_error(403, "NAMESPACE_MISMATCH");
    let unknown = unique("nobody");
    let body = json!({"namespace": unknown, "userId": "u", "initTokenHash": init_hash(&t)});
    let r = signed(
        d,
        &unknown,
        &ns_secret,
        "POST",
        "/connect",
        body.to_string().as_bytes(),
        &[],
    );
    assert_401(&r, AUTH_FAILED);
    // Another namespace's secret does not sign for this one.
    assert_401(
        &connect(d, &ns, &other_secret, "u", &init_hash(&t)),
        AUTH_FAILED,
    );
    // The token is still pending after all that.
    assert_eq!(connect(d, &ns, &ns_secret, "u", &init_hash(&t)).status, 200);
}

// ---------------------------------------------------------------------------------------------
// checklist 21, 24: isolation between users and namespaces

/// Points the `value_ct` of (namespace, user) `to` at the ciphertext stored for `from`, as an
/// attacker with write access to the database would.
#[track_caller]
fn copy_value_ct(d: &dyn Driver, from: (&str, &str), to: (&str, &str)) {
    let changed = d.sql(
        DB,
        "UPDATE ks_key SET value_ct = \
         (SELECT value_ct FROM ks_key WHERE namespace = ? AND user_id = ?) \
         WHERE namespace = ? AND user_id = ? RETURNING user_id",
        &[from.0.into(), from.1.into(), to.0.into(), to.1.into()],
    );
    assert_eq!(changed.len(), 1, "{from:?} → {to:?}");
}

/// A value belongs to one (namespace, userId): every session of that pair shares it, no other
/// user or namespace reads or changes it, and a ciphertext moved to another row does not open.
pub fn values_are_isolated_by_user_and_namespace(d: &dyn Driver) {
    let ns = unique("iso");
    let ns_secret = create_namespace(d, &ns, &[]);
    let ns2 = unique("iso2");
    let ns2_secret = create_namespace(d, &ns2, &[]);
    let alice1 = session(d, &ns, &ns_secret, "alice");
    let alice2 = session(d, &ns, &ns_secret, "alice");
    let bob = session(d, &ns, &ns_secret, "bob");
    let alice_elsewhere = session(d, &ns2, &ns2_secret, "alice");
    assert_ne!(alice1.session_token, alice2.session_token);
    let get = |s: &Session| key(d, s, "GET", b"", None);

    let value = b"alice's secret value 5f0c";
    assert_eq!(key(d, &alice1, "PUT", value, None).status, 204);
    // Two sessions of one (namespace, userId) share the value.
    assert_eq!(get(&alice2).body, value);
    // Another user or namespace never sees it.
    for s in [&bob, &alice_elsewhere] {
        get(s).assert_error(404, "KEY_NOT_FOUND");
    }
    // Bob's writes and deletes only touch bob's row.
    assert_eq!(key(d, &bob, "PUT", b"bob's", None).status, 204);
    assert_eq!(key(d, &bob, "DELETE", b"", None).status, 204);
    assert_eq!(get(&alice1).body, value);
    // Signing with bob's session but alice's init token fails.
    assert_401(
        &signed(
            d,
            &bob.session_token,
            &alice1.init_token,
            "GET",
            "/key",
            b"",
            &[],
        ),
        AUTH_FAILED,
    );

    // checklist 24: alice's ciphertext copied into bob's row, then into alice's row of another
    // namespace: a 500 that never carries alice's value.
    assert_eq!(key(d, &bob, "PUT", b"bob's", None).status, 204);
    assert_eq!(key(d, &alice_elsewhere, "PUT", b"x", None).status, 204);
    for (to, s) in [
        ((ns.as_str(), "bob"), &bob),
        ((ns2.as_str(), "alice"), &alice_elsewhere),
    ] {
        copy_value_ct(d, (&ns, "alice"), to);
        let r = get(s);
        r.assert_error_message(500, "INTERNAL", "internal error");
        assert!(!contains(&r.body, value));
    }
    assert_eq!(get(&alice1).body, value);
    assert_not_stored(d, "alice's value", value);
}

// ---------------------------------------------------------------------------------------------
// checklist 15: the allow-list against the platform peer address

/// The allow-list holds the address the platform reports (127.0.0.1 for both drivers), never a
/// forwarding header or a forged `spin-client-addr`, unless `client_addr_header` is set (not
/// here); a refusal does not use the init token up, and authentication comes first.
pub fn allow_list_uses_the_peer_address(d: &dyn Driver) {
    let inside = unique("cidr-in");
    let inside_secret = create_namespace(d, &inside, &["127.0.0.0/8"]);
    let outside = unique("cidr-out");
    let outside_secret = create_namespace(d, &outside, &["203.0.113.0/24", "2001:db8::/32"]);
    let open = unique("cidr-none");
    let open_secret = create_namespace(d, &open, &[]);

    let t = init(d);
    let hash = init_hash(&t);
    let r = connect(d, &outside, &outside_secret, "u", &hash);
    r.assert_error(403, "IP_NOT_ALLOWED");
    // A forged forwarding header does not help: client_addr_header is not configured.
    let body = json!({"namespace": outside, "userId": "u", "initTokenHash": hash}).to_string();
    let r = signed(
        d,
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
    r.assert_error(403, "IP_NOT_ALLOWED");
    // The 403s did not use up the token.
    assert_eq!(connect(d, &inside, &inside_secret, "u", &hash).status, 200);
    let t = init(d);
    assert_eq!(
        connect(d, &open, &open_secret, "u", &init_hash(&t)).status,
        200
    );
    // Authentication comes first: a bad signature on an allow-listed namespace is 401.
    assert_401(
        &connect(d, &outside, "wrong", "u", &init_hash(&t)),
        AUTH_FAILED,
    );
}

// ---------------------------------------------------------------------------------------------
// checklist 26–29: operator API, secret rotation, namespace deletion

/// Asserts that `ts` is an RFC 3339 time within the driver's clock readings `before` and
/// `after` (to the second; equal readings make it exact, as under the native fake clock).
#[track_caller]
fn assert_time_between(ts: &serde_json::Value, before: i64, after: i64) {
    let ts = ts.as_str().unwrap_or_else(|| panic!("not a time: {ts}"));
    let (lo, hi) = (
        guest_kit::time::rfc3339(before),
        guest_kit::time::rfc3339(after),
    );
    assert!(
        lo.as_str() <= ts && ts <= hi.as_str(),
        "{ts} outside {lo} … {hi}"
    );
}

/// The operator's request and the driver's clock just before and just after it.
fn admin_timed(d: &dyn Driver, method: &str, path: &str, body: &str) -> (Reply, i64, i64) {
    let before = d.now_ms();
    let r = admin(d, method, path, body);
    (r, before, d.now_ms())
}

/// `ns`'s entry in `GET /admin/namespaces`.
#[track_caller]
fn listed(d: &dyn Driver, ns: &str) -> serde_json::Value {
    let list = admin(d, "GET", "/admin/namespaces", "").ok(200);
    list["namespaces"]
        .as_array()
        .and_then(|l| l.iter().find(|n| n["namespace"] == ns).cloned())
        .unwrap_or_else(|| panic!("{ns} not listed: {list}"))
}

/// Bearer authentication, create (normalised CIDRs), list without secrets, bad input, routing
/// inside the group, CIDR updates and rotation that keep sessions and values, and deletion that
/// removes every row of the namespace and nothing else.
pub fn operator_api(d: &dyn Driver) {
    // checklist 26: a wrong or missing bearer → 401 with WWW-Authenticate: Bearer; the scheme is
    // case-insensitive.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some("Bearer "),
        Some(ADMIN_TOKEN),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = d.call("GET", "/admin/namespaces", &headers, b"");
        r.assert_error(401, "AUTH_INVALID");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{auth:?}");
    }
    let lower = format!("bearer {ADMIN_TOKEN}");
    let r = d.call(
        "GET",
        "/admin/namespaces",
        &[("authorization", &lower)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // checklist 27: create; CIDRs are normalised and deduplicated.
    let ns = unique("ops");
    let body =
        json!({"namespace": ns, "allowed_cidrs": ["127.0.0.5/8", "2001:db8::1", "127.0.0.9/8"]});
    let (r, before, after) = admin_timed(d, "POST", "/admin/namespaces", &body.to_string());
    let secret = token_in(&r, 201, "secret");
    let cidrs = json!(["127.0.0.0/8", "2001:db8::1/128"]);
    assert_eq!(r.json()["namespace"], ns.as_str());
    assert_eq!(r.json()["allowed_cidrs"], cidrs);
    // An upper-case name, which sorts before every lower-case one.
    let upper = unique("Ops");
    create_namespace(d, &upper, &[]);
    admin(
        d,
        "POST",
        "/admin/namespaces",
        &json!({"namespace": ns}).to_string(),
    )
    .assert_error(409, "NAMESPACE_EXISTS");
    let many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
    let bad_bodies = [
        json!({"namespace": "has|pipe"}),
        json!({"namespace": "-leading"}),
        json!({"namespace": "_x"}),
        json!({"namespace": "x".repeat(65)}),
        json!({"namespace": ""}),
        json!({"namespace": unique("ok"), "allowed_cidrs": ["1.2.3.4/33"]}),
        json!({"namespace": unique("ok"), "allowed_cidrs": ["300.1.1.1"]}),
        json!({"namespace": unique("ok"), "allowed_cidrs": ["not an address"]}),
        json!({"namespace": unique("ok"), "allowed_cidrs": "1.2.3.4"}),
        json!({"namespace": unique("ok"), "allowed_cidrs": many}),
        json!({"namespace": unique("ok"), "secret": "x"}),
        json!({"namespace": unique("ok"), "extra": true}),
        json!({}),
    ];
    for body in bad_bodies
        .iter()
        .map(|b| b.to_string())
        .chain([String::new()])
    {
        admin(d, "POST", "/admin/namespaces", &body).assert_error(400, "BAD_REQUEST");
    }

    // The list: sorted by name (byte order), without secrets.
    let r = admin(d, "GET", "/admin/namespaces", "");
    let list = r.ok(200)["namespaces"].as_array().expect("list").clone();
    assert!(!r.text().contains(&secret), "the list shows a secret");
    assert!(
        !r.text().contains("secret\""),
        "a secret field: {}",
        r.text()
    );
    let names: Vec<&str> = list
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    assert!(names.is_sorted(), "{names:?}");
    let ours: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| [ns.as_str(), upper.as_str()].contains(n))
        .collect();
    assert_eq!(ours, [upper.as_str(), ns.as_str()]);
    let entry = listed(d, &ns);
    assert_eq!(entry["allowed_cidrs"], cidrs);
    assert_time_between(&entry["created_at"], before, after);
    assert!(entry["secret_rotated_at"].is_null(), "{entry}");
    assert_eq!(entry.as_object().map(|o| o.len()), Some(4), "{entry}");

    // Routing inside the group: the `Allow` lists are exact (the operator API never does CORS).
    for path in [
        format!("/admin/namespaces/{ns}/other"),
        "/admin/namespaces/".to_owned(),
    ] {
        admin(d, "GET", &path, "").assert_error(404, "NOT_FOUND");
    }
    for (method, path, allow) in [
        ("PATCH", "/admin/namespaces".to_owned(), "GET, POST"),
        ("GET", format!("/admin/namespaces/{ns}"), "DELETE"),
    ] {
        let r = admin(d, method, &path, "");
        r.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    let missing = unique("missing");
    for (method, path, body) in [
        ("DELETE", format!("/admin/namespaces/{missing}"), ""),
        (
            "POST",
            format!("/admin/namespaces/{missing}/rotate-secret"),
            "",
        ),
        (
            "PUT",
            format!("/admin/namespaces/{missing}/allowed-cidrs"),
            r#"{"allowed_cidrs":[]}"#,
        ),
    ] {
        admin(d, method, &path, body).assert_error(404, "NAMESPACE_NOT_FOUND");
    }
    let cidrs_path = format!("/admin/namespaces/{ns}/allowed-cidrs");
    admin(d, "PUT", &cidrs_path, r#"{"allowed_cidrs":["x"]}"#).assert_error(400, "BAD_REQUEST");

    // A session and a value to watch through the changes below.
    let s = session(d, &ns, &secret, "u");
    assert_eq!(key(d, &s, "PUT", b"kept", None).status, 204);
    let kept = || assert_eq!(key(d, &s, "GET", b"", None).body, b"kept");

    // checklist 28: new allowed CIDRs (normalised) keep values and sessions; the last one keeps
    // the driver's peer inside.
    for (given, normalised) in [
        ("198.51.100.7/16", "198.51.0.0/16"),
        ("127.0.0.1", "127.0.0.1/32"),
    ] {
        let body = json!({"allowed_cidrs": [given]}).to_string();
        let r = admin(d, "PUT", &cidrs_path, &body);
        assert_eq!(
            r.ok(200),
            json!({"namespace": ns, "allowed_cidrs": [normalised]})
        );
        kept();
    }

    // checklist 28: rotation → the old secret stops at once, the new one works, sessions live on.
    let rotate = format!("/admin/namespaces/{ns}/rotate-secret");
    let (r, before, after) = admin_timed(d, "POST", &rotate, "");
    let new_secret = token_in(&r, 200, "secret");
    assert_eq!(r.json()["namespace"], ns.as_str());
    assert_ne!(new_secret, secret);
    let hash = init_hash(&init(d));
    assert_401(&connect(d, &ns, &secret, "u2", &hash), AUTH_FAILED);
    assert_eq!(connect(d, &ns, &new_secret, "u2", &hash).status, 200);
    kept();
    assert_time_between(&listed(d, &ns)["secret_rotated_at"], before, after);
    assert_not_stored(d, "rotated namespace secret", new_secret.as_bytes());

    // checklist 29: deletion → its sessions 401, its rows gone; another namespace keeps its own.
    let keep = unique("keep");
    let keep_secret = create_namespace(d, &keep, &[]);
    let k = session(d, &keep, &keep_secret, "u");
    assert_eq!(key(d, &k, "PUT", b"stays", None).status, 204);
    let r = admin(d, "DELETE", &format!("/admin/namespaces/{ns}"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_401(&key(d, &s, "GET", b"", None), AUTH_FAILED);
    for table in ["ks_key", "ks_session", "ks_namespace"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE namespace = ?");
        assert_eq!(
            d.int(DB, &sql, &[ns.as_str().into()]),
            0,
            "{table} rows left"
        );
    }
    assert_eq!(key(d, &k, "GET", b"", None).body, b"stays");
    admin(d, "DELETE", &format!("/admin/namespaces/{ns}"), "")
        .assert_error(404, "NAMESPACE_NOT_FOUND");
    let t = init(d);
    assert_401(
        &connect(d, &ns, &new_secret, "u", &init_hash(&t)),
        AUTH_FAILED,
    );
}

/// Run against a deployment without an operator token (unset or empty): every operator
/// request, with or without a bearer, is 403 `ADMIN_DISABLED`.
pub fn admin_disabled(d: &dyn Driver) {
    for (method, path, auth) in [
        ("GET", "/admin/namespaces", None),
        ("GET", "/admin/namespaces", Some("Bearer ")),
        ("GET", "/admin/namespaces", Some("Bearer anything")),
        ("POST", "/admin/namespaces", Some("Bearer anything")),
        ("DELETE", "/admin/namespaces/x", None),
        ("POST", "/admin/namespaces/x/rotate-secret", None),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        d.call(method, path, &headers, br#"{"namespace":"x"}"#)
            .assert_error(403, "ADMIN_DISABLED");
    }
    admin(d, "GET", "/admin/namespaces", "").assert_error(403, "ADMIN_DISABLED");
}

// ---------------------------------------------------------------------------------------------
// checklist 34: CORS

/// Asserts that a response carries no `Access-Control-*` header.
#[track_caller]
fn assert_no_cors(r: &Reply) {
    assert!(
        r.headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
        "{:?}",
        r.headers
    );
}

/// With [`SETTINGS`]' two origins: preflights and answers on the browser routes (`/init`,
/// `/key`) for a listed origin only; `/connect` and `/admin` never answer CORS.
pub fn cors(d: &dyn Driver) {
    let r = d.call(
        "OPTIONS",
        "/key",
        &[
            ("origin", CORS_ORIGIN),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "authorization, x-date, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    for (name, value) in [
        ("access-control-allow-origin", CORS_ORIGIN),
        ("vary", "Origin"),
        ("access-control-allow-methods", "GET, PUT, DELETE"),
        (
            "access-control-allow-headers",
            "authorization, x-date, content-type",
        ),
        ("access-control-max-age", "600"),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    // The second listed origin is answered as itself.
    let r = d.call("OPTIONS", "/init", &[("origin", CORS_OTHER_ORIGIN)], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(CORS_OTHER_ORIGIN)
    );

    // Actual requests from a listed origin carry the header, others do not; errors too.
    for (origin, allowed) in [(CORS_ORIGIN, true), ("https://evil.example", false)] {
        let r = d.call("POST", "/init", &[("origin", origin)], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin"),
            allowed.then_some(origin)
        );
    }
    let r = d.call("GET", "/key", &[("origin", CORS_ORIGIN)], b"");
    assert_401(&r, AUTH_FAILED);
    assert_eq!(r.header("access-control-allow-origin"), Some(CORS_ORIGIN));

    // /connect and /admin never send CORS headers.
    let ns = unique("cors");
    let secret = create_namespace(d, &ns, &[]);
    let hash = init_hash(&init(d));
    let r = d.send(connect_request(d, &ns, &secret, "u", &hash).with_header("origin", CORS_ORIGIN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_cors(&r);
    let r = d.call("OPTIONS", "/connect", &[("origin", CORS_ORIGIN)], b"");
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_no_cors(&r);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for r in [
        d.call(
            "OPTIONS",
            "/admin/namespaces",
            &[("origin", CORS_ORIGIN)],
            b"",
        ),
        d.call(
            "GET",
            "/admin/namespaces",
            &[("origin", CORS_ORIGIN), ("authorization", &bearer)],
            b"",
        ),
    ] {
        assert_no_cors(&r);
    }
}

// ---------------------------------------------------------------------------------------------
// checklist 31, docs/keyservice.md, "Design: conventions": route and size errors

/// 404 and 405 (with `Allow`), and 413 before authentication.
pub fn routing_and_body_limits(d: &dyn Driver) {
    for path in [
        "/nope",
        "/keys",
        "/key/extra",
        "/init/x",
        "/connect/",
        "/admin/namespaces/a/b/c",
        "/admin/namespaces/a/nope",
        "/admin/namespaces/",
    ] {
        d.get(path).assert_error(404, "NOT_FOUND");
    }
    // With CORS configured the browser routes' `Allow` also names OPTIONS (the exact lists
    // without CORS are a native test).
    for (method, path, allow) in [
        ("PATCH", "/key", "GET, PUT, DELETE"),
        ("OPTIONS", "/connect", "POST"),
        ("GET", "/init", "POST"),
        ("GET", "/connect", "POST"),
        ("GET", "/connect?x", "POST"),
        ("PATCH", "/admin/namespaces", "GET, POST"),
        ("GET", "/admin/namespaces/x", "DELETE"),
        ("GET", "/admin/namespaces/x/rotate-secret", "POST"),
    ] {
        let r = admin(d, method, path, "");
        r.assert_error(405, "METHOD_NOT_ALLOWED");
        assert!(
            r.header("allow").is_some_and(|a| a.starts_with(allow)),
            "{method} {path}: {:?}",
            r.header("allow")
        );
    }
    // 413 before authentication: no credentials at all.
    let big = vec![b'x'; 16 * 1024 + 1];
    for (method, path) in [
        ("POST", "/init"),
        ("POST", "/connect"),
        ("POST", "/admin/namespaces"),
        ("GET", "/key"),
    ] {
        d.call(method, path, &[], &big)
            .assert_error(413, "PAYLOAD_TOO_LARGE");
    }
    d.call("PUT", "/key", &[], &vec![0u8; 65_537])
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // At the limit the request gets as far as authentication.
    let at_limit = vec![b'x'; 16 * 1024];
    assert_401(&d.call("POST", "/connect", &[], &at_limit), AUTH_FAILED);
    assert_401(&d.call("PUT", "/key", &[], &vec![0u8; 65_536]), AUTH_FAILED);
}

/// The public OpenAPI document.
pub fn openapi_is_served(d: &dyn Driver) {
    let r = d.get("/keyservice/openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["openapi"], "3.1.0");
    for path in [
        "/init",
        "/connect",
        "/key",
        "/admin/namespaces",
        "/admin/namespaces/{ns}",
        "/admin/namespaces/{ns}/allowed-cidrs",
        "/admin/namespaces/{ns}/rotate-secret",
    ] {
        assert!(v["paths"][path].is_object(), "{path}");
    }
    d.post("/keyservice/openapi.json", b"")
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

// ---------------------------------------------------------------------------------------------
// checklist 2–7, 9, 22: the ss1 header

/// A 64-byte nonce for hand-built headers, unique within the process and, through the driver's
/// clock, across processes (the library's own signer draws CSPRNG nonces).
pub fn nonce(d: &dyn Driver) -> [u8; sessionist::NONCE_BYTES] {
    static N: AtomicU64 = AtomicU64::new(1);
    let mut out = [0u8; sessionist::NONCE_BYTES];
    out[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    out[8..16].copy_from_slice(&d.now_ms().to_be_bytes());
    out[16..20].copy_from_slice(&std::process::id().to_be_bytes());
    out
}

/// An ss1 `Authorization` for a request signed with `date` and a fresh nonce, its parameters
/// filled into `shape` (`{sid}`, `{hash}`, `{HASH}`, `{n}`, `{N}`: upper-case hex).
#[allow(clippy::too_many_arguments)]
fn ss1_header(
    d: &dyn Driver,
    shape: &str,
    (keyid, secret): (&str, &str),
    method: &str,
    path: &str,
    body: &[u8],
    date: &str,
) -> String {
    let n = nonce(d);
    let header = sessionist::sign(keyid, secret, method, path, body, date, &n).expect("sign");
    let hash = header
        .split("hash=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("hash");
    let n = hex::encode(n);
    shape
        .replace("{sid}", keyid)
        .replace("{hash}", hash)
        .replace("{HASH}", &hash.to_uppercase())
        .replace("{n}", &n)
        .replace("{N}", &n.to_uppercase())
}

const SS1: &str = "ss1 keyid={sid}, hash={hash}, nonce={n}";

pub fn http_date(unix_secs: u64) -> String {
    sessionist::format_http_date(unix_secs).expect("date")
}

/// `Tue, 01 Dec 2026 10:00:00 GMT` → (`Tuesday, 01-Dec-26 10:00:00 GMT`,
/// `Tue Dec  1 10:00:00 2026`, `2026-12-01T10:00:00Z`).
fn other_date_forms(imf: &str) -> (String, String, String) {
    let p: Vec<&str> = imf.split(' ').collect();
    let (wd, day, mon, year, time) = (p[0].trim_end_matches(','), p[1], p[2], p[3], p[4]);
    let long = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .into_iter()
    .find(|l| l.starts_with(wd))
    .expect("weekday");
    let rfc850 = format!("{long}, {day}-{mon}-{} {time} GMT", &year[2..]);
    let asctime = format!(
        "{wd} {mon} {:>2} {time} {year}",
        day.trim_start_matches('0')
    );
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|m| *m == mon).expect("month") + 1;
    (rfc850, asctime, format!("{year}-{m:02}-{day}T{time}Z"))
}

/// The header's grammar, nonces, the date window and formats, what the hash covers, and that
/// every authentication failure looks alike, byte for byte.
pub fn ss1_header_rules(d: &dyn Driver) {
    let ns = unique("ss1");
    let ns_secret = create_namespace(d, &ns, &[]);
    let s = session(d, &ns, &ns_secret, "u1");
    assert_eq!(key(d, &s, "PUT", b"v", None).status, 204);
    let (sid, itok) = (s.session_token.as_str(), s.init_token.as_str());
    let creds = (sid, itok);
    let get = |headers: &[(&str, &str)]| d.call("GET", "/key", headers, b"");
    let get_signed = |shape: &str, date: &str| {
        let auth = ss1_header(d, shape, creds, "GET", "/key", b"", date);
        get(&[("authorization", &auth), ("x-date", date)])
    };
    let ok = |r: Reply| {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, b"v");
    };
    let now = || d.now_secs();

    // Baseline, then the checklist 3 variants that must pass: upper-case hash, `SS1`, reordered
    // parameters, no space after the commas, upper-case nonce.
    let date = http_date(now());
    for shape in [
        SS1,
        "ss1 keyid={sid}, hash={HASH}, nonce={n}",
        "SS1 keyid={sid}, hash={hash}, nonce={n}",
        "ss1 nonce={n}, keyid={sid}, hash={hash}",
        "ss1 keyid={sid},hash={hash},nonce={n}",
        "ss1 keyid={sid}, hash={hash}, nonce={N}",
    ] {
        ok(get_signed(shape, &date));
    }

    // checklist 2, 4, 5: malformed headers and nonces of the wrong length or alphabet, all made
    // from one good header; none of them uses its nonce up.
    let good = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
    let n = good.rsplit("nonce=").next().expect("nonce").to_owned();
    let mut bad = Vec::new();
    for header in [
        format!("{good}, realm=x"),
        good.replace(&format!(", nonce={n}"), ""),
        format!("{good}, keyid={sid}"),
        good.replacen("keyid=", &format!("keyid={sid}, keyid="), 1),
        format!("{good},"),
        format!("Authorization: {good}"),
        good.replacen("ss1 ", "ss1", 1),
        good.replacen("ss1 ", "Basic ", 1),
        good.replace(&n, &n[..126]),
        good.replace(&n, &format!("{n}00")),
        good.replace(&n, &format!("{}zz", &n[..126])),
        good.replace(&format!("nonce={n}"), "nonce="),
        String::new(),
    ] {
        let r = get(&[("authorization", &header), ("x-date", &date)]);
        assert_401(&r, AUTH_FAILED);
        bad.push(r.body);
    }
    assert_401(&get(&[("x-date", &date)]), AUTH_FAILED);
    ok(get(&[("authorization", &good), ("x-date", &date)]));

    // checklist 6: the date window (±301 s refused, ±299 s accepted). Rounding is chosen so that
    // request latency can only make the accepted cases safer.
    let t = u64::try_from(d.now_ms()).expect("clock");
    let (floor, ceil) = (t / 1000, t.div_ceil(1000));
    for date in [http_date(floor - 301), http_date(ceil + 301)] {
        assert_401(&get_signed(SS1, &date), DATE_MESSAGE);
    }
    for date in [http_date(ceil - 299), http_date(floor + 299)] {
        ok(get_signed(SS1, &date));
    }
    // Other formats are refused (ISO 8601, a numeric zone), as is no date at all.
    let imf = http_date(now());
    let (rfc850, asctime, iso) = other_date_forms(&imf);
    for date in [
        "not a date".to_owned(),
        iso,
        imf.replace("GMT", "+0000"),
        String::new(),
    ] {
        assert_401(&get_signed(SS1, &date), DATE_MESSAGE);
    }
    // checklist 7: RFC 850 and asctime are accepted, in X-Date and in Date.
    for date in [rfc850, asctime] {
        ok(get_signed(SS1, &date));
        let auth = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
        ok(get(&[("authorization", &auth), ("date", &date)]));
    }
    // With both headers only X-Date is signed and checked.
    let date = http_date(now());
    for other in ["garbage", "Mon, 01 Jan 2001 00:00:00 GMT"] {
        let auth = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
        ok(get(&[
            ("authorization", &auth),
            ("date", other),
            ("x-date", &date),
        ]));
    }
    let auth = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
    let earlier = http_date(now() - 5);
    assert_401(
        &get(&[
            ("authorization", &auth),
            ("x-date", &earlier),
            ("date", &date),
        ]),
        AUTH_FAILED,
    );
    // Date alone (non-browser clients) works.
    let auth = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
    ok(get(&[("authorization", &auth), ("date", &date)]));

    // What the hash covers: method, path and query (exactly as sent), body and date.
    let sent = |method: &str, path: &str, body: &[u8], auth: &str, date: &str| {
        d.call(
            method,
            path,
            &[("authorization", auth), ("x-date", date)],
            body,
        )
    };
    let auth = ss1_header(d, SS1, creds, "PUT", "/key", b"new value", &date);
    for (method, path, body) in [
        ("PUT", "/key", &b"new valuf"[..]),
        ("PUT", "/key?x=1", &b"new value"[..]),
        ("DELETE", "/key", &b""[..]),
    ] {
        assert_401(&sent(method, path, body, &auth, &date), AUTH_FAILED);
    }
    let later = http_date(now() + 1);
    assert_401(
        &sent("PUT", "/key", b"new value", &auth, &later),
        AUTH_FAILED,
    );
    let auth = ss1_header(d, SS1, creds, "GET", "/key?x=%20", b"", &date);
    assert_401(&sent("GET", "/key?x=+", b"", &auth, &date), AUTH_FAILED);
    assert_401(
        &sent("DELETE", "/key?x=%20", b"", &auth, &date),
        AUTH_FAILED,
    );
    ok(sent("GET", "/key?x=%20", b"", &auth, &date)); // a signed query string is fine
    ok(key(d, &s, "GET", b"", None)); // nothing of the above was stored

    // checklist 22: signed with a wrong secret (the hash instead of the init token, or the
    // namespace secret).
    for wrong in [init_hash(itok), ns_secret.clone()] {
        assert_401(
            &signed(d, sid, &wrong, "GET", "/key", b"", &[]),
            AUTH_FAILED,
        );
    }

    // checklist 9: unknown keyid, bad hash, replay and malformed headers look alike.
    let unknown = signed(d, &"A".repeat(43), itok, "GET", "/key", b"", &[]);
    let date = http_date(now());
    let bad_hash = {
        let auth = ss1_header(d, SS1, (sid, "wrong"), "GET", "/key", b"", &date);
        get(&[("authorization", &auth), ("x-date", &date)])
    };
    let replay = {
        let auth = ss1_header(d, SS1, creds, "GET", "/key", b"", &date);
        ok(get(&[("authorization", &auth), ("x-date", &date)]));
        get(&[("authorization", &auth), ("x-date", &date)])
    };
    for r in [&unknown, &bad_hash, &replay] {
        assert_401(r, AUTH_FAILED);
        assert_eq!(r.body, unknown.body);
    }
    for b in &bad {
        assert_eq!(b, &unknown.body);
    }
}
