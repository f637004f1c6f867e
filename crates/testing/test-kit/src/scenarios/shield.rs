//! shield scenarios (docs/shield.md, "Conformance checklist"), each written once against a
//! [`Driver`] and run natively (shield-service's tests) and over HTTP (keyward-e2e's shield test).
//!
//! They configure CUSTOM providers in PEM mode only, which need no outbound HTTP; what the
//! identity providers are asked (JWKS, Openfort) is tested by each driver against its own
//! stand-in. Every scenario isolates itself by project, so they may share one deployment.
//! Tokens are signed with jwt-verify's fixed test keys, which the runners hand in
//! ([`install_keys`]; the kit does not link jwt-verify).

use std::sync::OnceLock;

use base64::Engine as _;
use guest_kit::Value as Sql;
use serde_json::{Value, json};

use crate::driver::Driver;
use crate::reply::Reply;

/// The database label.
pub const DB: &str = "shield";

/// The variables both drivers run these scenarios with: no rate limit (it has its own tests).
pub const SETTINGS: &[(&str, &str)] = &[("rate_limit_requests", "0")];

/// A well-formed project-key part (x = 2) of another project's key.
pub const WRONG_PART: &str = "AgsugC3CJpBt+gGB7d6DnzaMcJHpaCCl4N6w5r5+NFuG";

/// The identity provider's keys, by JWS `alg` name ("RS256", "PS256", "ES256", "EdDSA"; "-alt"
/// appended: the other fixed key of that algorithm): `jwt_verify::test_signer`'s `sign_as`,
/// `public_pem_of` and `hs256_token`.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    pub sign: fn(&str, &Value) -> String,
    pub pem: fn(&str) -> String,
    pub hs256: fn(&[u8], &Value, &Value) -> String,
}

static KEYS: OnceLock<Keys> = OnceLock::new();

/// Hands the scenarios jwt-verify's test keys; each runner calls it before its first scenario
/// (every runner installs the same functions, so the first call wins).
pub fn install_keys(keys: Keys) {
    let _ = KEYS.set(keys);
}

fn keys() -> &'static Keys {
    KEYS.get()
        .expect("the runner installs the keys first (shield::install_keys)")
}

/// A token over `claims` from the `alg` key.
pub fn sign(alg: &str, claims: &Value) -> String {
    (keys().sign)(alg, claims)
}

/// The public key PEM of the `alg` key.
pub fn pem(alg: &str) -> String {
    (keys().pem)(alg)
}

/// An HS256 token (a symmetric algorithm shield never accepts).
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    (keys().hs256)(secret, header, claims)
}

/// One `#[test]` per shield scenario against `driver()` (after the runner's
/// [`install_keys`]); the list lives here, once, for both runners.
#[macro_export]
macro_rules! shield_scenario_tests {
    ($driver:expr) => {
        $crate::scenario_tests!(shield, $driver;
            transport_and_register,
            project_authentication,
            providers_and_users,
            user_authentication,
            user_shares,
            validator_messages,
            project_entropy_and_sessions,
            expired_session_is_refused,
            racing_session_succeeds_once,
            racing_duplicate_inserts,
            migration_encrypt_and_legacy_key,
            passkeys_bulk_and_preregister,
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Clients

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// A token for `sub` from the `alg` key, valid for ten minutes on the driver's clock.
pub fn token(d: &dyn Driver, alg: &str, sub: &str) -> String {
    sign(alg, &json!({"sub": sub, "exp": d.now_secs() + 600}))
}

/// A project: its API key and secret, and the encryption part when one was generated.
pub struct Project<'a> {
    pub d: &'a dyn Driver,
    pub id: String,
    pub key: String,
    pub secret: String,
    pub part: Option<String>,
}

/// `POST /register`.
#[track_caller]
pub fn register(d: &dyn Driver, with_key: bool) -> Project<'_> {
    let body = json!({"name": "e2e", "generate_encryption_key": with_key}).to_string();
    let j = d.post("/register", body.as_bytes()).done(201);
    Project {
        d,
        id: j["id"].as_str().expect("id").into(),
        key: j["api_key"].as_str().expect("key").into(),
        secret: j["api_secret"].as_str().expect("secret").into(),
        part: j["encryption_part"].as_str().map(str::to_owned),
    }
}

/// [`register`], with a CUSTOM PEM provider for the `alg` key; returns the provider id too.
#[track_caller]
pub fn pem_project<'a>(d: &'a dyn Driver, alg: &str, with_key: bool) -> Project<'a> {
    let p = register(d, with_key);
    p.pem_provider(alg, "");
    p
}

fn json_body(body: Option<&Value>) -> Vec<u8> {
    body.map(|b| b.to_string().into_bytes()).unwrap_or_default()
}

impl<'a> Project<'a> {
    /// The same project reached through another deployment `d` (a second host on the same
    /// database).
    pub fn on<'b>(&self, d: &'b dyn Driver) -> Project<'b> {
        Project {
            d,
            id: self.id.clone(),
            key: self.key.clone(),
            secret: self.secret.clone(),
            part: self.part.clone(),
        }
    }

    /// A project request (API key and secret).
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = [
            ("X-API-Key", self.key.as_str()),
            ("X-API-Secret", self.secret.as_str()),
        ];
        self.d.call(method, path, &auth, &json_body(body))
    }
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body))
    }

    /// Configures the CUSTOM provider in PEM mode for the `alg` key; returns its id.
    #[track_caller]
    pub fn pem_provider(&self, alg: &str, cookie: &str) -> String {
        let key_type = match alg.trim_end_matches("-alt") {
            "ES256" => "ecdsa",
            "EdDSA" => "ed25519",
            _ => "rsa",
        };
        let custom = json!({"pem": pem(alg), "key_type": key_type, "cookie_field_name": cookie});
        let r = self.post(
            "/project/providers",
            &json!({"providers": {"custom": custom}}),
        );
        r.done(200)["providers"][0]["provider_id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// The internal user id of `external` at `provider_id` (`POST /user`).
    #[track_caller]
    pub fn user_id(&self, external: &str, provider_id: &str) -> String {
        let body = json!({"external_user_id": external, "provider_id": provider_id});
        text_field(&self.post("/user", &body), 201, "user_id")
    }

    /// A new encryption session for `part`.
    #[track_caller]
    pub fn session(&self, part: &str) -> String {
        let body = json!({"encryption_part": part, "otp_code": null});
        text_field(
            &self.post("/project/encryption-session", &body),
            200,
            "session_id",
        )
    }

    /// Creates the project key; returns the encryption part.
    #[track_caller]
    pub fn encryption_key(&self) -> String {
        let r = self.send("POST", "/project/encryption-key", None);
        text_field(&r, 200, "encryption_part")
    }

    /// User requests with the API key and exactly these headers.
    pub fn with(&self, headers: &[(&str, &str)]) -> User<'_> {
        User {
            p: self,
            headers: vec![("X-API-Key".into(), self.key.clone())],
        }
        .headers(headers)
    }

    /// User requests through `provider` with a bearer token.
    pub fn by(&self, provider: &str, token: &str) -> User<'_> {
        let bearer = format!("Bearer {token}");
        self.with(&[("X-Auth-Provider", provider), ("Authorization", &bearer)])
    }

    /// User requests through the CUSTOM provider with a bearer token.
    pub fn custom(&self, token: &str) -> User<'_> {
        self.by("custom", token)
    }

    /// The shares this project stores (all users).
    pub fn stored(&self, condition: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM shares WHERE project_id = ? AND {condition}");
        self.d.int(DB, &sql, &[Sql::from(self.id.as_str())])
    }
}

/// A user's requests: the API key and the identity headers.
pub struct User<'a> {
    p: &'a Project<'a>,
    headers: Vec<(String, String)>,
}

impl User<'_> {
    pub fn headers(mut self, extra: &[(&str, &str)]) -> Self {
        self.headers
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.p.d.call(method, path, &headers, &json_body(body))
    }
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None)
    }
}

/// A user-entropy share.
pub fn user_share(reference: Option<&str>) -> Value {
    let mut v = json!({"secret": "user-secret", "entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"});
    if let Some(r) = reference {
        v["reference"] = r.into();
    }
    v
}

/// A project-entropy share (secret `secret-<reference>`), with a part or a session.
pub fn project_share(reference: &str, part: Option<&str>, session: Option<&str>) -> Value {
    let mut v = json!({"secret": format!("secret-{reference}"), "entropy": "project", "reference": reference});
    if let Some(x) = part {
        v["encryption_part"] = x.into();
    }
    if let Some(x) = session {
        v["encryption_session"] = x.into();
    }
    v
}

/// The `field` of every share of a keychain answer, in order.
pub fn listed(keychain: &Value, field: &str) -> Vec<String> {
    keychain["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| s[field].as_str().expect("field").to_owned())
        .collect()
}

/// shield's successes.
pub trait Done {
    /// `status` as `application/json`; the body as JSON, `Null` when empty (as POST /shares and
    /// the imports answer).
    fn done(&self, status: u16) -> Value;
}

impl Done for Reply {
    #[track_caller]
    fn done(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// The text `field` of a `status` success.
#[track_caller]
pub fn text_field(r: &Reply, status: u16, field: &str) -> String {
    r.done(status)[field]
        .as_str()
        .unwrap_or_else(|| panic!("no text {field}: {}", r.text()))
        .to_owned()
}

/// A response without a body.
#[track_caller]
pub fn assert_empty(r: &Reply, status: u16) {
    assert_eq!((r.status, r.text()), (status, String::new()));
}

/// Of `statuses`, exactly one is `winner` and the others `loser`.
#[track_caller]
pub fn assert_one_winner(statuses: &[u16], winner: u16, loser: u16) {
    let wins = statuses.iter().filter(|s| **s == winner).count();
    assert_eq!(wins, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == winner || *s == loser),
        "{statuses:?}"
    );
}

const NOT_FOUND: (u16, &str, &str) = (404, "SH_NOT_FOUND", "Share not found");
const BAD_PART: (u16, &str, &str) = (400, "EC_INVALID", "Invalid encryption part");
const BAD_SESSION: (u16, &str, &str) = (400, "EC_INVALID", "Invalid encryption session");
const INVALID_TOKEN: (u16, &str, &str) = (401, "A_INVALID", "Invalid token");
const BAD_PROVIDER: (u16, &str, &str) = (401, "A_INVALID", "Invalid auth provider");
const EXISTS: (u16, &str, &str) = (409, "SH_EXISTS", "Share already exists");
const NO_2FA: (u16, &str, &str) = (400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA");
const UNPARSED: (u16, &str, &str) = (400, "BAD_REQUEST", "failed to parse request body");

/// The error shape with one of the constants above.
#[track_caller]
pub fn refused(r: &Reply, (status, code, message): (u16, &str, &str)) {
    r.assert_error_message(status, code, message);
}

// ---------------------------------------------------------------------------------------------
// docs/shield.md, "Design: transport", "Design: error catalogue", "Design: routes" public routes
// (checklist 1–4, 30)

pub fn transport_and_register(d: &dyn Driver) {
    let r = d.call(
        "GET",
        "/storage-methods",
        &[("X-Request-ID", "req-123")],
        b"",
    );
    assert_eq!(
        r.done(200),
        json!({"methods":[{"id":0,"name":"Shield"},{"id":1,"name":"Google Drive"},{"id":2,"name":"iCloud"}]})
    );
    assert_eq!(r.header("x-request-id"), Some("req-123"));
    let generated = d.get("/storage-methods");
    let id = generated.header("x-request-id").expect("request id");
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "{id}"
    );
    let health = d.get("/healthz");
    let hj = health.done(200);
    assert_eq!(hj["status"], "healthy");
    assert_eq!(
        hj["checks"],
        json!([{"name": "database", "status": "healthy"}])
    );
    assert!(health.header("x-request-id").is_some());
    for path in ["/shares/a/b", "/project/nope"] {
        d.get(path)
            .assert_error_message(404, "NOT_FOUND", "Not found");
    }
    assert_eq!(d.get("/definitely-not-a-route").error_code(), "NOT_FOUND");
    d.call("PATCH", "/shares", &[], b"").assert_error_message(
        405,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    );
    // Preflights as shield-js sends them.
    for (origin, asked) in [
        (
            "http://localhost:5173",
            "access-control-allow-origin,authorization,content-type,x-api-key,x-auth-provider,x-encryption-part,x-encryption-session,x-request-id,traceparent",
        ),
        (
            "http://app",
            "access-control-allow-origin,content-type,x-api-key,x-auth-provider,authorization,x-encryption-part,traceparent",
        ),
    ] {
        let pre = preflight(d, "/shares", origin, asked);
        assert_eq!(pre.status, 204);
        assert!(pre.body.is_empty());
        assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
        assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
        assert_eq!(pre.header("access-control-max-age"), Some("86400"));
        assert_eq!(pre.header("content-type"), Some("application/json"));
    }
    for (origin, asked) in [
        ("http://localhost:5173", "x-api-key,x-user-id"),
        ("http://app", "x-user-id"),
    ] {
        let denied = preflight(d, "/admin/preregister", origin, asked);
        assert_eq!(denied.status, 204);
        assert!(denied.header("access-control-allow-origin").is_none());
    }
    for origin in ["http://x", "http://app"] {
        let simple = d.call("GET", "/storage-methods", &[("Origin", origin)], b"");
        assert_eq!(simple.header("access-control-allow-origin"), Some("*"));
        assert_eq!(simple.header("vary"), Some("Origin"));
    }
    // /register.
    let j = d
        .post(
            "/register",
            br#"{"name":"n","generate_encryption_key":true}"#,
        )
        .done(201);
    assert_eq!(j["enabled_2fa"], false);
    assert_eq!(j["id"].as_str().map(str::len), Some(36));
    assert_eq!(j["api_key"].as_str().map(str::len), Some(36));
    let secret = j["api_secret"].as_str().expect("secret");
    assert!(
        secret.len() == 64
            && secret
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{secret}"
    );
    let part = j["encryption_part"].as_str().expect("part");
    assert_eq!(part.len(), 44);
    assert_eq!(unb64(part)[0], 2, "the encryption part is the x=2 share");
    // JSON decoding rules.
    for bad in [
        "",
        "[]",
        "{\"name\":1}",
        "{} x",
        "{\"generate_encryption_key\":\"yes\"}",
    ] {
        refused(&d.post("/register", bad.as_bytes()), UNPARSED);
    }
    d.post("/register", br#"{"name":null,"unknown":[1]}"#)
        .done(201);
    // 2FA (docs/shield.md, "Design: OTP and 2FA"; the OTP flows are shield-service's
    // tests/otp.rs and the e2e shield_otp).
    for two_fa in [
        r#"{"enable_2fa":true}"#,
        r#"{"name":"n","enable_2fa":true}"#,
    ] {
        assert_eq!(
            d.post("/register", two_fa.as_bytes()).done(201)["enabled_2fa"],
            true
        );
    }
    let p = register(d, false);
    p.send("POST", "/project/reset-api-secret", None)
        .assert_error_message(501, "NOT_IMPLEMENTED", "Not implemented");
    let bad_otp = (400, "BAD_REQUEST", "invalid parameters were passed");
    for body in [json!({"user_id": "u"}), json!({})] {
        refused(&p.post("/project/otp", &body), bad_otp);
    }
    let otp = json!({"user_id": "u", "email": "u@example.com"});
    refused(&p.post("/project/otp", &otp), NO_2FA);
    p.post("/project/enable-2fa", &json!({})).done(200);
    refused(
        &p.post("/project/enable-2fa", &json!({})),
        (
            409,
            "OTP_ALREADY_ENABLED",
            "Project already has 2FA enabled",
        ),
    );
    assert_eq!(d.get("/shield/openapi.json").done(200)["openapi"], "3.1.0");
}

fn preflight(d: &dyn Driver, path: &str, origin: &str, asked: &str) -> Reply {
    let headers = [
        ("Origin", origin),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", asked),
    ];
    d.call("OPTIONS", path, &headers, b"")
}

// docs/shield.md, "Design: authentication", checklist 6
pub fn project_authentication(d: &dyn Driver) {
    let p = register(d, false);
    let invalid = (401, "A_INVALID", "Invalid API key or API secret");
    let get = |headers: &[(&str, &str)]| d.call("GET", "/project", headers, b"");
    refused(&get(&[]), (401, "A_MISSING", "Missing API key"));
    for key in [p.key.as_str(), "x"] {
        refused(
            &get(&[("X-API-Key", key)]),
            (401, "A_MISSING", "Missing API secret"),
        );
    }
    for (key, secret) in [("nope", p.secret.as_str()), ("x", "y")] {
        refused(
            &get(&[("X-API-Key", key), ("X-API-Secret", secret)]),
            invalid,
        );
    }
    for wrong in ["zz".to_owned(), "00".repeat(32)] {
        refused(
            &get(&[("X-API-Key", &p.key), ("X-API-Secret", &wrong)]),
            invalid,
        );
    }
    // Upper-case hex works, and header names are case-insensitive.
    let upper = p.secret.to_uppercase();
    get(&[("x-api-key", &p.key), ("x-api-secret", &upper)]).done(200);
    assert_eq!(
        p.get("/project").done(200),
        json!({"id": p.id, "name": "e2e", "enabled_2fa": false})
    );
    // Only the digest of the secret's bytes is stored.
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(hex::decode(&p.secret).expect("hex")));
    let sql = "SELECT api_secret_sha256 FROM projects WHERE id = ?";
    assert_eq!(d.text_row(DB, sql, &[Sql::from(p.id.as_str())]), [digest]);
    let sql = "SELECT COUNT(*) FROM projects WHERE api_secret_sha256 = ?";
    assert_eq!(d.int(DB, sql, &[Sql::from(p.secret.as_str())]), 0);
}

// docs/shield.md, "Design: routes" providers, checklist 10, 11
pub fn providers_and_users(d: &dyn Driver) {
    let p = register(d, false);
    let add = |body: Value| p.post("/project/providers", &json!({"providers": body}));
    p.post("/project/providers", &json!({}))
        .assert_error_message(400, "PV_MISSING", "Missing provider");
    let jwk_and_pem = (
        409,
        "PV_CFG_INVALID",
        "JWK and PEM cannot be set at the same time",
    );
    refused(
        &add(json!({"custom": {"jwk": "http://x", "pem": "y"}})),
        jwk_and_pem,
    );
    let no_key_type = (400, "PV_CFG_INVALID", "Missing key type");
    refused(&add(json!({"custom": {"pem": pem("RS256")}})), no_key_type);
    for pem in [
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ] {
        let r = add(json!({"custom": {"pem": pem, "key_type": "rsa"}}));
        r.assert_error_message(400, "PV_CFG_INVALID", "Invalid PEM certificate");
    }
    let both = add(json!({"openfort": {"publishable_key": "pk_1"}, "custom": {"jwk": "https://idp/jwks.json", "provider_id": "ignored"}}))
        .done(200);
    let list = both["providers"].as_array().expect("list");
    assert_eq!(
        list.iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["OPENFORT", "CUSTOM"]
    );
    let exists = (
        409,
        "PV_EXISTS",
        "Custom authentication already registered for this project",
    );
    refused(
        &add(json!({"openfort": {"publishable_key": "pk_2"}})),
        exists,
    );
    refused(&add(json!({"custom": {"jwk": "https://o"}})), exists);
    let of_id = list[0]["provider_id"].as_str().unwrap().to_owned();
    let custom_id = list[1]["provider_id"].as_str().unwrap().to_owned();
    let (of_path, custom_path) = (
        format!("/project/providers/{of_id}"),
        format!("/project/providers/{custom_id}"),
    );
    assert_eq!(
        p.get(&custom_path).done(200),
        json!({"provider_id": custom_id, "type": "CUSTOM", "jwk": "https://idp/jwks.json", "cookie_field_name": ""})
    );
    assert_eq!(
        p.get(&of_path).done(200),
        json!({"provider_id": of_id, "type": "OPENFORT", "publishable_key": "pk_1"})
    );
    assert_eq!(
        p.get("/project/providers").done(200)["providers"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Another project's id is 404 on every verb, with or without a body.
    let other = register(d, false);
    for (method, body) in [
        ("GET", None),
        ("PUT", Some(json!({}))),
        ("DELETE", None),
        ("GET", Some(json!({}))),
        ("DELETE", Some(json!({}))),
    ] {
        let r = other.send(method, &custom_path, body.as_ref());
        r.assert_error_message(404, "PV_NOT_FOUND", "Provider not found");
    }
    // PUT: a foreign field, PEM mode without and with a key type, cookie.
    let put = |path: &str, body: Value| p.send("PUT", path, Some(&body));
    put(&of_path, json!({"pem": "x"})).assert_error_message(
        400,
        "PV_CFG_INVALID",
        "Invalid provider config",
    );
    refused(
        &put(&custom_path, json!({"pem": pem("RS256")})),
        no_key_type,
    );
    let r = put(
        &custom_path,
        json!({"pem": pem("RS256"), "key_type": "rsa", "cookie_field_name": "tok"}),
    );
    assert_empty(&r, 200);
    let got = p.get(&custom_path).done(200);
    assert_eq!(got["key_type"], "rsa");
    assert!(got.get("jwk").is_none());
    assert_eq!(got["cookie_field_name"], "tok");
    let r = put(
        &custom_path,
        json!({"pem": pem("ES256"), "key_type": "ecdsa", "cookie_field_name": ""}),
    );
    assert_eq!(r.status, 200);
    // The first user request creates the user; POST /user finds the same one.
    let alice = token(d, "ES256", "alice");
    assert_eq!(
        p.custom(&alice).get("/keychain").done(200),
        json!({"shares": []})
    );
    let body = json!({"external_user_id": "alice", "provider_id": custom_id});
    let u1 = p.post("/user", &body).done(201);
    assert_eq!(p.post("/user", &body).done(201), u1);
    let users = "SELECT COUNT(*) FROM users WHERE project_id = ?";
    assert_eq!(d.int(DB, users, &[Sql::from(p.id.as_str())]), 1);
    other
        .post("/user", &body)
        .assert_error_message(404, "PV_NOT_FOUND", "Provider not found");
    p.post(
        "/user",
        &json!({"external_user_id": "", "provider_id": custom_id}),
    )
    .assert_error_message(400, "BAD_REQUEST", "external_user_id is required");
    p.post("/user", &json!({"external_user_id": "a"}))
        .assert_error_message(400, "BAD_REQUEST", "provider_id is required");
    // DELETE: the list shrinks; the CUSTOM provider's users are unreachable by token.
    assert_eq!(p.send("DELETE", &of_path, None).status, 200);
    assert_eq!(
        p.get("/project/providers").done(200)["providers"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        other.get("/project/providers").done(200),
        json!({"providers": []})
    );
    assert_eq!(p.send("DELETE", &custom_path, None).status, 200);
    refused(&p.custom(&alice).get("/keychain"), BAD_PROVIDER);
}

// docs/shield.md, "Design: authentication", "Design: identity providers", checklist 7, 8, 9
pub fn user_authentication(d: &dyn Driver) {
    let p = pem_project(d, "RS256", false);
    let good = token(d, "RS256", "bob");
    let bearer = format!("Bearer {good}");
    for path in ["/shares", "/keychain"] {
        refused(
            &p.with(&[]).get(path),
            (401, "A_MISSING", "Missing auth provider"),
        );
        for provider in ["foo", "openfort"] {
            refused(&p.by(provider, &good).get(path), BAD_PROVIDER);
        }
    }
    // The first X-Auth-Provider wins.
    p.custom(&good)
        .headers(&[("X-Auth-Provider", "x")])
        .get("/shares")
        .assert_error_message(404, "SH_NOT_FOUND", "Share not found");
    let with_auth = |auth: &str| p.with(&[("X-Auth-Provider", "custom"), ("Authorization", auth)]);
    refused(
        &p.with(&[("X-Auth-Provider", "custom")]).get("/keychain"),
        INVALID_TOKEN,
    );
    for auth in ["", "Bearer", &good, &format!("{bearer} x")] {
        for path in ["/shares", "/keychain"] {
            refused(&with_auth(auth).get(path), INVALID_TOKEN);
        }
    }
    let now = d.now_secs();
    let refused_tokens = [
        sign("RS256-alt", &json!({"sub": "bob"})),
        sign("RS256", &json!({"sub": "bob", "exp": now - 1})),
        sign("RS256", &json!({"sub": "bob", "exp": now - 5})),
        sign("RS256", &json!({"exp": now + 60})),
        hs256(
            b"secret",
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"sub": "bob"}),
        ),
        hs256(b"k", &json!({"alg": "HS256"}), &json!({"sub": "bob"})),
    ];
    for t in &refused_tokens {
        refused(&p.custom(t).get("/keychain"), INVALID_TOKEN);
    }
    p.custom(&good).get("/keychain").done(200);
    // PS256 with the RSA key is accepted too.
    p.custom(&sign("PS256", &json!({"sub": "bob"})))
        .get("/keychain")
        .done(200);
    // ecdsa rejects RS256, also in a cookie; cookie mode rejects an extra Authorization.
    let pe = pem_project(d, "ES256", false);
    refused(&pe.custom(&good).get("/keychain"), INVALID_TOKEN);
    pe.custom(&token(d, "ES256", "e"))
        .get("/keychain")
        .done(200);
    let pc = register(d, false);
    pc.pem_provider("ES256", "jwt");
    let es = token(d, "ES256", "c");
    let cookie = |p: &Project, value: String| {
        p.with(&[("X-Auth-Provider", "custom"), ("Cookie", &value)])
            .get("/keychain")
    };
    cookie(&pc, format!("a=b; jwt={es}")).done(200);
    refused(
        &cookie(&pc, format!("jwt={}", sign("RS256", &json!({"sub": "c"})))),
        INVALID_TOKEN,
    );
    let both = pc.with(&[
        ("X-Auth-Provider", "custom"),
        ("Cookie", &format!("jwt={es}")),
        ("Authorization", &format!("Bearer {es}")),
    ]);
    refused(&both.get("/keychain"), INVALID_TOKEN);
    // ed25519 accepts EdDSA, by header or cookie.
    let pd = register(d, false);
    pd.pem_provider("EdDSA", "session");
    let ed = token(d, "EdDSA", "dora");
    cookie(&pd, format!("other=1; session={ed}")).done(200);
    let both = pd.with(&[
        ("X-Auth-Provider", "custom"),
        ("Cookie", &format!("session={ed}")),
        ("Authorization", &format!("Bearer {ed}")),
    ]);
    refused(&both.get("/keychain"), INVALID_TOKEN);
}

// docs/shield.md, "Design: shares on the wire", "Design: share routes" user entropy,
// checklist 12, 13, 14, 20, 21, 23
pub fn user_shares(d: &dyn Driver) {
    let p = pem_project(d, "RS256", false);
    let alice = p.custom(&token(d, "RS256", "alice"));
    alice.post("/shares", &user_share(None)).done(201);
    // Any key of the provider's type signs for the same user.
    let got = p
        .custom(&sign("PS256", &json!({"sub": "alice"})))
        .get("/shares")
        .done(200);
    assert_eq!(got["secret"], "user-secret");
    assert_eq!(
        (
            got["salt"].as_str(),
            got["iterations"].as_i64(),
            got["length"].as_i64(),
            got["digest"].as_str()
        ),
        (Some("salt"), Some(1000), Some(32), Some("SHA-256"))
    );
    assert_eq!(got["reference"], "default");
    assert!(got["keychain_id"].is_string());
    assert!(got.get("storage_method_id").is_none());
    assert!(got.get("encryption_part").is_none());
    assert_eq!(
        alice.get("/shares/encryption").done(200),
        json!({"entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"})
    );
    // Duplicates (checklist 14): per user for default, per project for other references; a
    // same-content retry answers what the first write answered (docs/shield.md, "Design: share
    // routes", retries).
    alice.post("/shares", &user_share(None)).done(201);
    let mut different = user_share(None);
    different["secret"] = "another-secret".into();
    refused(&alice.post("/shares", &different), EXISTS);
    let mut wallet = user_share(Some("wallet-2"));
    wallet["storage_method_id"] = 1.into();
    alice.post("/shares", &wallet).done(201);
    alice.post("/shares", &wallet).done(201);
    let mut other_wallet = wallet.clone();
    other_wallet["storage_method_id"] = 2.into();
    refused(&alice.post("/shares", &other_wallet), EXISTS);
    let bob = p.custom(&token(d, "RS256", "bob"));
    refused(&bob.post("/shares", &wallet), EXISTS);
    refused(&bob.get("/shares/wallet-2"), NOT_FOUND);
    assert_eq!(bob.get("/keychain").done(200), json!({"shares": []}));
    let q = pem_project(d, "RS256", false);
    let alice_at_q = q.custom(&token(d, "RS256", "alice"));
    alice_at_q.post("/shares", &wallet).done(201);
    refused(&alice_at_q.get("/shares/wallet-3"), NOT_FOUND);
    // Keychain (checklist 23).
    assert_eq!(
        listed(&alice.get("/keychain").done(200), "reference"),
        ["default", "wallet-2"]
    );
    let one = alice.get("/keychain?reference=wallet-2").done(200);
    assert_eq!(one["shares"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["shares"][0]["storage_method_id"], 1);
    for missing in ["zz", "none"] {
        refused(
            &alice.get(&format!("/keychain?reference={missing}")),
            NOT_FOUND,
        );
    }
    // A share referenced "encryption" via the keychain; GET /shares/encryption stays the entropy route.
    alice
        .post("/shares", &user_share(Some("encryption")))
        .done(201);
    let kc = alice.get("/keychain?reference=encryption").done(200);
    assert_eq!(kc["shares"][0]["reference"], "encryption");
    assert_eq!(alice.get("/shares/encryption").done(200)["entropy"], "user");
    // PUT with reference "" updates default and echoes (checklist 20); the ignored fields vary.
    for (secret, iterations, ignored) in
        [("new", 5, "encryption_part"), ("updated", 7, "keychain_id")]
    {
        let mut upd = json!({"secret": secret, "entropy": "user", "salt": "s2", "iterations": iterations, "length": 16, "digest": "d", "reference": ""});
        upd[ignored] = "".into();
        assert_eq!(
            alice.put("/shares", &upd).done(200),
            json!({"secret": secret, "entropy": "user", "salt": "s2", "iterations": iterations, "length": 16, "digest": "d"})
        );
        assert_eq!(alice.get("/shares").done(200)["secret"], secret);
        upd["reference"] = "missing".into();
        refused(&alice.put("/shares", &upd), NOT_FOUND);
    }
    // DELETE (checklist 21).
    let r = alice.delete("/shares");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-type"), Some("application/json"));
    refused(&alice.get("/shares"), NOT_FOUND);
    refused(&alice.delete("/shares"), NOT_FOUND);
    assert_eq!(alice.delete("/shares/wallet-2").status, 204);
    refused(&alice.delete("/shares/wallet-2"), NOT_FOUND);
    let users = "SELECT COUNT(*) FROM users WHERE project_id = ?";
    assert_eq!(
        d.int(DB, users, &[Sql::from(p.id.as_str())]),
        2,
        "alice and bob"
    );
}

// docs/shield.md, "Design: shares on the wire": every validator message, first failure wins.
pub fn validator_messages(d: &dyn Driver) {
    let p = pem_project(d, "RS256", true);
    let user = p.custom(&token(d, "RS256", "v"));
    let cases = [
        (json!({"entropy": "user"}), "secret is required"),
        (
            json!({"secret": "x", "entropy": "user", "storage_method_id": 7}),
            "invalid storage method",
        ),
        (
            json!({"secret": "x", "entropy": "user", "storage_method_id": 3}),
            "invalid storage method",
        ),
        (json!({"secret": "x"}), "require share entropy to be set"),
        (
            json!({"secret": "x", "entropy": "none"}),
            "require share entropy to be set",
        ),
        (
            json!({"secret": "x", "entropy": "user"}),
            "salt is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s"}),
            "iterations is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s", "iterations": 1}),
            "length is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "user", "salt": "s", "iterations": 1, "length": 1}),
            "digest is required when entropy is user",
        ),
        (
            json!({"secret": "x", "entropy": "project", "storage_method_id": 1}),
            "storage_method must be Shield if entropy is project",
        ),
        (
            json!({"secret": "x", "entropy": "project", "salt": "s"}),
            "if user entropy is not set, encryption parameters should not be set",
        ),
        (
            json!({"secret": "x", "entropy": "project"}),
            "encryption_part or encryption_session is required when entropy is project",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "storage_method_id": 2}),
            "storage_method must be Shield if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "default"}),
            "share needs a valid share reference if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "default", "passkey_reference": {"passkey_id": "p"}}),
            "share needs a valid share reference if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r"}),
            "passkey_reference must be set if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": ""}}),
            "passkey_reference must contain passkey_id if entropy is passkey",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": "p"}, "digest": "d"}),
            "if user entropy is not set, encryption parameters should not be set",
        ),
        (
            json!({"secret": "x", "entropy": "passkey", "reference": "r", "passkey_reference": {"passkey_id": "p"}, "encryption_session": "s"}),
            "encryption parameters should not be set for passkey entropy",
        ),
        (
            json!({"secret": "x", "entropy": "weird"}),
            "invalid entropy",
        ),
        (
            json!({"secret": "x", "entropy": "bogus"}),
            "invalid entropy",
        ),
    ];
    for (body, message) in cases {
        user.post("/shares", &body)
            .assert_error_message(400, "BAD_REQUEST", message);
    }
    refused(
        &user.post(
            "/shares",
            &json!({"secret": "x", "entropy": "user", "iterations": "1000"}),
        ),
        UNPARSED,
    );
    assert_eq!(p.stored("1 = 1"), 0);
    // Someone else's keychain (kw): 400; the caller's own or "" is fine.
    let mut foreign = user_share(None);
    foreign["keychain_id"] = "not-mine".into();
    user.post("/shares", &foreign)
        .assert_error_message(400, "BAD_REQUEST", "invalid keychain_id");
    let mut empty = user_share(None);
    empty["keychain_id"] = "".into();
    user.post("/shares", &empty).done(201);
    let mut mine = user_share(Some("second"));
    mine["keychain_id"] = user.get("/shares").done(200)["keychain_id"].clone();
    user.post("/shares", &mine).done(201);
}

// docs/shield.md, "Design: the project key", "Design: encryption sessions": project entropy,
// wrong parts, sessions (checklist 15, 16, 18, 19, 23, 28)
pub fn project_entropy_and_sessions(d: &dyn Driver) {
    let p = pem_project(d, "RS256", false);
    let user = p.custom(&token(d, "RS256", "erin"));
    let not_configured = (409, "EC_MISSING", "Encryption not configured");
    for part in ["AAAA", WRONG_PART] {
        refused(
            &user.post("/shares", &project_share("a", Some(part), None)),
            not_configured,
        );
    }
    refused(
        &p.post(
            "/project/encryption-session",
            &json!({"encryption_part": "x"}),
        ),
        not_configured,
    );
    let part = p.encryption_key();
    refused(
        &p.send("POST", "/project/encryption-key", None),
        (409, "EC_EXISTS", "Encryption part already exists"),
    );
    // Wrong-but-well-formed and malformed parts: 400 EC_INVALID, nothing written.
    let raw = unb64(&part);
    let mut x1 = raw.clone();
    x1[0] = 1;
    let bad_parts = [
        WRONG_PART.to_owned(),
        "not base64!".to_owned(),
        "!!!".to_owned(),
        "AAAA".to_owned(),
        b64(&raw[..31]),
        b64(&[raw.as_slice(), &[0]].concat()),
        b64(&[raw.as_slice(), &[7]].concat()),
        b64(&x1),
    ];
    for bad in &bad_parts {
        refused(
            &user.post("/shares", &project_share("a", Some(bad), None)),
            BAD_PART,
        );
        for path in ["/project/encryption-session", "/project/encrypt"] {
            refused(&p.post(path, &json!({"encryption_part": bad})), BAD_PART);
        }
    }
    assert_eq!(p.stored("1 = 1"), 0, "nothing written");
    let sessions = "SELECT COUNT(*) FROM encryption_sessions WHERE project_id = ?";
    assert_eq!(d.int(DB, sessions, &[Sql::from(p.id.as_str())]), 0);
    // Write with the part; read without → 409, with it → plaintext, with a wrong one → 400.
    user.post("/shares", &project_share("default", Some(&part), None))
        .done(201);
    refused(
        &user.put("/shares", &project_share("default", Some(WRONG_PART), None)),
        BAD_PART,
    );
    let part_required = (
        409,
        "EC_MISSING",
        "The requested share have project entropy and encryption part is required",
    );
    refused(&user.get("/shares"), part_required);
    let read = |header: &str, value: &str, path: &str| {
        p.custom(&token(d, "RS256", "erin"))
            .headers(&[(header, value)])
            .get(path)
    };
    refused(&read("X-Encryption-Part", WRONG_PART, "/shares"), BAD_PART);
    let got = read("X-Encryption-Part", &part, "/shares").done(200);
    assert_eq!(
        (got["secret"].as_str(), got["entropy"].as_str()),
        (Some("secret-default"), Some("project"))
    );
    // The legacy 32-byte part (checklist 18).
    assert_eq!(
        read("X-Encryption-Part", &b64(&raw[1..]), "/shares").done(200)["secret"],
        "secret-default"
    );
    // Sessions: single use; a 409 leaves one usable; several shares on one.
    let s = p.session(&part);
    assert_eq!(s.len(), 36);
    let mut different = project_share("default", None, Some(&s));
    different["secret"] = "another-secret".into();
    refused(&user.post("/shares", &different), EXISTS);
    user.post("/shares", &project_share("p2", None, Some(&s)))
        .done(201);
    refused(
        &user.post("/shares", &project_share("p3", None, Some(&s))),
        BAD_SESSION,
    );
    assert_eq!(p.stored("reference = 'p3'"), 0);
    let s2 = p.session(&part);
    let kc = read("X-Encryption-Session", &s2, "/keychain").done(200);
    assert_eq!(listed(&kc, "secret"), ["secret-default", "secret-p2"]);
    refused(&read("X-Encryption-Session", &s2, "/keychain"), BAD_SESSION);
    refused(
        &read("X-Encryption-Session", &s2, "/shares/p2"),
        BAD_SESSION,
    );
    // Another project's session → 400, and it stays usable for its own project.
    let q = pem_project(d, "RS256", true);
    let s3 = p.session(&part);
    refused(
        &q.custom(&token(d, "RS256", "erin"))
            .post("/shares", &project_share("q1", None, Some(&s3))),
        BAD_SESSION,
    );
    assert_eq!(
        read("X-Encryption-Session", &s3, "/shares/p2").done(200)["secret"],
        "secret-p2"
    );
    // A 404 leaves a session usable too.
    let s4 = p.session(&part);
    refused(
        &read("X-Encryption-Session", &s4, "/shares/nope"),
        NOT_FOUND,
    );
    read("X-Encryption-Session", &s4, "/shares/p2").done(200);
    // PUT with the part; with a wrong one → 400; the update reads back with a session.
    user.put(
        "/shares",
        &json!({"secret": "p-new", "entropy": "project", "encryption_part": part}),
    )
    .done(200);
    refused(
        &user.put(
            "/shares",
            &json!({"secret": "evil", "entropy": "project", "encryption_part": WRONG_PART}),
        ),
        BAD_PART,
    );
    let s5 = p.session(&part);
    assert_eq!(
        read("X-Encryption-Session", &s5, "/shares").done(200)["secret"],
        "p-new"
    );
}

// Checklist 19: a session lives 5 minutes; one past its expiry (moved back in the database) is
// refused and not consumed by anyone.
pub fn expired_session_is_refused(d: &dyn Driver) {
    let p = pem_project(d, "RS256", true);
    let part = p.part.clone().expect("part");
    let user = p.custom(&token(d, "RS256", "late"));
    user.post("/shares", &project_share("default", Some(&part), None))
        .done(201);
    let s = p.session(&part);
    let id = [Sql::from(s.as_str())];
    let created = d.int(
        DB,
        "SELECT created_at FROM encryption_sessions WHERE id = ?",
        &id,
    );
    let expires = d.int(
        DB,
        "SELECT expires_at FROM encryption_sessions WHERE id = ?",
        &id,
    );
    assert_eq!(expires - created, 5 * 60 * 1000);
    d.sql(
        DB,
        "UPDATE encryption_sessions SET expires_at = ? WHERE id = ?",
        &[Sql::from(created - 1), Sql::from(s.as_str())],
    );
    let expired =
        "SELECT COUNT(*) FROM encryption_sessions WHERE id = ? AND expires_at < created_at";
    assert_eq!(d.int(DB, expired, &id), 1);
    let late = p
        .custom(&token(d, "RS256", "late"))
        .headers(&[("X-Encryption-Session", &s)]);
    refused(&late.get("/shares"), BAD_SESSION);
}

// Checklist 19: a session used by 20 racing requests succeeds once.
pub fn racing_session_succeeds_once(d: &dyn Driver) {
    let p = pem_project(d, "RS256", true);
    let part = p.part.clone().expect("part");
    let t = token(d, "RS256", "racer");
    p.custom(&t)
        .post("/shares", &project_share("default", Some(&part), None))
        .done(201);
    let s = p.session(&part);
    let statuses = crate::race(20, |_| {
        p.custom(&t)
            .headers(&[("X-Encryption-Session", &s)])
            .get("/shares")
            .status
    });
    assert_one_winner(&statuses, 200, 400);
}

// Checklist 32: racing duplicate inserts leave one row and 409s (each racer's content differs:
// a same-content retry would be 201, docs/shield.md, "Design: share routes", retries).
pub fn racing_duplicate_inserts(d: &dyn Driver) {
    let p = pem_project(d, "RS256", false);
    let t = token(d, "RS256", "dup");
    let statuses = crate::race(10, |i| {
        let mut share = user_share(None);
        share["secret"] = format!("secret-{i}").into();
        p.custom(&t).post("/shares", &share).status
    });
    assert_one_winner(&statuses, 201, 409);
    assert_eq!(
        p.custom(&t).get("/keychain").done(200)["shares"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

// docs/shield.md, "Design: bulk lookups and migration", /project/encrypt (checklist 17, 26, 28)
pub fn migration_encrypt_and_legacy_key(d: &dyn Driver) {
    let p = register(d, false);
    let provider = p.pem_provider("RS256", "");
    let uid = p.user_id("mig", &provider);
    let import = |p: &Project, body: Value| p.post("/shares/migration/import", &body);
    import(&p, json!({"user_id": uid, "secret": "plain-1"})).done(201);
    import(
        &p,
        json!({"user_id": uid, "secret": "plain-2", "reference": "r2", "storage_method_id": 1}),
    )
    .done(201);
    import(
        &p,
        json!({"user_id": uid, "secret": "u", "entropy": "user", "salt": "s", "reference": "u1"}),
    )
    .done(201);
    refused(
        &import(
            &p,
            json!({"user_id": uid, "secret": "x", "reference": "r2"}),
        ),
        EXISTS,
    );
    let q = register(d, false);
    import(&q, json!({"user_id": uid, "secret": "x"})).assert_error_message(
        404,
        "US_NOT_FOUND",
        "User not found",
    );
    import(&p, json!({"user_id": uid, "secret": ""})).assert_error_message(
        400,
        "BAD_REQUEST",
        "secret is required",
    );
    import(&p, json!({"user_id": uid, "secret": "x", "entropy": "zz"})).assert_error_message(
        400,
        "BAD_REQUEST",
        "invalid entropy",
    );
    assert_eq!(
        p.get("/shares/migration/export/r2").done(200),
        json!({"secret": "plain-2", "entropy": "none", "reference": "r2", "storage_method_id": 1})
    );
    let not_default = (400, "BAD_REQUEST", "reference must not be default");
    refused(&p.get("/shares/migration/export/default"), not_default);
    refused(&q.get("/shares/migration/export/r2"), NOT_FOUND);
    // /project/encrypt converts every `none` share, all or nothing.
    let encrypt = |part: Value| p.post("/project/encrypt", &json!({"encryption_part": part}));
    refused(
        &encrypt(json!(WRONG_PART)),
        (409, "EC_MISSING", "Encryption not configured"),
    );
    let part = p.encryption_key();
    refused(&encrypt(json!(WRONG_PART)), BAD_PART);
    refused(&p.post("/project/encrypt", &json!({})), BAD_PART);
    assert_eq!(p.stored("entropy = 'none'"), 2);
    assert_eq!(
        p.get("/shares/migration/export/r2").done(200)["entropy"],
        "none"
    );
    assert_empty(&encrypt(json!(part)), 200);
    assert_eq!(
        (
            p.stored("entropy = 'project'"),
            p.stored("entropy = 'user'")
        ),
        (2, 1)
    );
    refused(&p.get("/shares/migration/export/r2"), NOT_FOUND);
    let user = p.custom(&token(d, "RS256", "mig"));
    let with_part = p
        .custom(&token(d, "RS256", "mig"))
        .headers(&[("X-Encryption-Part", &part)]);
    let kc = with_part.get("/keychain").done(200);
    let got: Vec<(String, String)> = listed(&kc, "entropy")
        .into_iter()
        .zip(listed(&kc, "secret"))
        .collect();
    let want = [
        ("project", "plain-1"),
        ("project", "plain-2"),
        ("user", "u"),
    ];
    assert_eq!(got, want.map(|(e, s)| (e.to_owned(), s.to_owned())));
    // A legacy project key without a key check (checklist 17) accepts a wrong part on write;
    // the right part then fails to read it (500), and project shares never leave by export.
    d.sql(
        DB,
        "UPDATE encryption_keys SET key_check = NULL WHERE project_id = ?",
        &[Sql::from(p.id.as_str())],
    );
    user.post("/shares", &project_share("legacy", Some(WRONG_PART), None))
        .done(201);
    with_part
        .get("/shares/legacy")
        .assert_error_message(500, "INTERNAL", "Internal error");
    refused(&p.get("/shares/migration/export/legacy"), NOT_FOUND);
    refused(&p.get("/shares/migration/export/default"), not_default);
    assert_eq!(
        p.get("/shares/migration/export/u1").done(200),
        json!({"secret": "u", "entropy": "user", "salt": "s", "reference": "u1", "storage_method_id": 0})
    );
}

// docs/shield.md, "Design: bulk lookups and migration", passkeys, preregistration (checklist 24, 25, 27)
pub fn passkeys_bulk_and_preregister(d: &dyn Driver) {
    let p = register(d, false);
    let provider = p.pem_provider("RS256", "");
    let user = p.custom(&token(d, "RS256", "pat"));
    let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1";
    let passkey = |reference: &str, secret: &str, env: &str| json!({"secret": secret, "entropy": "passkey", "reference": reference, "passkey_reference": {"passkey_id": "cred-1", "passkey_env": env}});
    let (mac_passkey, iphone_passkey) = (
        passkey("pk-ref", "pk-secret", "{\"name\":\"x\"}"),
        passkey("pk1", "pk", "ignored"),
    );
    let by = |ua: &str| {
        p.custom(&token(d, "RS256", "pat"))
            .headers(&[("User-Agent", ua)])
    };
    let twice = by(mac).headers(&[("User-Agent", mac)]);
    let once = (
        400,
        "BAD_REQUEST",
        "header User-Agent needs to be defined exactly once",
    );
    refused(&twice.post("/shares", &mac_passkey), once);
    let twice = by(iphone).headers(&[("User-Agent", iphone)]);
    refused(&twice.post("/shares", &iphone_passkey), once);
    by(mac).post("/shares", &mac_passkey).done(201);
    by(iphone).post("/shares", &iphone_passkey).done(201);
    let macos =
        json!({"name": "Chrome", "os": "macOS", "osVersion": "10.15.7", "device": "Desktop"});
    assert_eq!(
        user.get("/shares/pk-ref").done(200)["passkey_reference"],
        json!({"passkey_id": "cred-1", "PasskeyEnv": macos})
    );
    let got = user.get("/shares/pk1").done(200);
    assert_eq!(got["passkey_reference"]["passkey_id"], "cred-1");
    assert_eq!(got["passkey_reference"]["PasskeyEnv"]["os"], "iOS");
    assert_eq!(got["passkey_reference"]["PasskeyEnv"]["device"], "Mobile");
    user.post("/shares", &user_share(None)).done(201);
    // Bulk by reference, then by user: at most 100 at a time.
    let bulk = |p: &Project, kind: &str, body: Value| {
        p.post(&format!("/shares/encryption/{kind}/bulk"), &body)
    };
    let too_many = (
        400,
        "BAD_REQUEST",
        "Requests with more than 100 elements are not allowed",
    );
    let many: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    refused(
        &bulk(&p, "reference", json!({"references": many})),
        too_many,
    );
    refused(&bulk(&p, "user", json!({"user_ids": many})), too_many);
    let not_found = json!({"status": "not-found"});
    let b = bulk(
        &p,
        "reference",
        json!({"references": ["pk-ref", "default", "missing"]}),
    )
    .done(200)["encryption_types"]
        .clone();
    assert_eq!(
        b["pk-ref"],
        json!({"status": "found", "encryption_type": "passkey", "passkey_id": "cred-1", "passkey_env": macos})
    );
    assert_eq!((&b["default"], &b["missing"]), (&not_found, &not_found));
    let b = bulk(
        &p,
        "reference",
        json!({"references": ["pk1", "default", "nope", "pk1"]}),
    )
    .done(200)["encryption_types"]
        .clone();
    assert_eq!(
        (&b["pk1"]["status"], &b["pk1"]["encryption_type"]),
        (&json!("found"), &json!("passkey"))
    );
    assert_eq!(
        (&b["pk1"]["passkey_id"], &b["pk1"]["passkey_env"]["os"]),
        (&json!("cred-1"), &json!("iOS"))
    );
    assert_eq!((&b["default"], &b["nope"]), (&not_found, &not_found));
    assert_eq!(b.as_object().map(|o| o.len()), Some(3));
    let q = register(d, false);
    for reference in ["pk-ref", "pk1"] {
        let b = bulk(&q, "reference", json!({"references": [reference]})).done(200);
        assert_eq!(b["encryption_types"][reference]["status"], "not-found");
    }
    let b = bulk(&p, "user", json!({"user_ids": ["pat", "nobody"]})).done(200)["encryption_types"]
        .clone();
    assert_eq!(
        b["pat"],
        json!({"status": "found", "encryption_type": "user"})
    );
    assert_eq!(b["nobody"], not_found);
    let b = bulk(
        &p,
        "user",
        json!({"user_ids": ["pat"], "reference": "pk-ref"}),
    )
    .done(200);
    assert_eq!(b["encryption_types"]["pat"]["encryption_type"], "passkey");
    assert_eq!(b["encryption_types"]["pat"]["passkey_id"], "cred-1");
    let b = bulk(&p, "user", json!({"user_ids": ["pat"], "reference": "pk1"})).done(200);
    assert_eq!(b["encryption_types"]["pat"]["encryption_type"], "passkey");
    // Import: a passkey gets a fresh id; a duplicate → 409; a foreign user → 404.
    let uid = p.user_id("frank", &provider);
    let imp = json!({"user_id": uid, "secret": "imp", "entropy": "passkey", "reference": "ipk", "passkey_reference": {"name": "Chrome", "os": "", "osVersion": "1", "device": "Desktop"}});
    p.post("/shares/migration/import", &imp).done(201);
    refused(&p.post("/shares/migration/import", &imp), EXISTS);
    q.post("/shares/migration/import", &imp)
        .assert_error_message(404, "US_NOT_FOUND", "User not found");
    let ex = p.get("/shares/migration/export/ipk").done(200);
    assert_eq!(ex["passkey_reference"]["PasskeyEnv"]["os"], "unknown");
    assert_eq!(
        ex["passkey_reference"]["passkey_id"].as_str().map(str::len),
        Some(36)
    );
    // Preregistration.
    let pre = |extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("X-API-Key", p.key.as_str()),
            ("X-API-Secret", p.secret.as_str()),
        ];
        headers.extend_from_slice(extra);
        d.call(
            "POST",
            "/admin/preregister",
            &headers,
            user_share(None).to_string().as_bytes(),
        )
    };
    pre(&[("X-Auth-Provider", "custom")]).assert_error_message(
        400,
        "US_ID_MISSING",
        "Missing user ID",
    );
    refused(
        &pre(&[("X-User-ID", "quinn")]),
        (401, "A_MISSING", "Missing auth provider"),
    );
    refused(
        &pre(&[("X-User-ID", "quinn"), ("X-Auth-Provider", "openfort")]),
        BAD_PROVIDER,
    );
    pre(&[("X-User-ID", "quinn"), ("X-Auth-Provider", "custom")]).done(201);
    let quinn = p.custom(&token(d, "RS256", "quinn"));
    assert_eq!(quinn.get("/shares").done(200)["secret"], "user-secret");
}
