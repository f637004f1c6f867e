//! guardian's native harness: the test kit's sandbox (real SQLite file, in-memory key-value
//! store, variables) and secrets, a fake clock, and a scripted identity provider behind
//! guest-kit's `Fetch` and `Clock`.
#![allow(dead_code, unused_imports)]

use std::cell::{Cell, RefCell};

use envelope::{MasterKey, Sealer};
use guardian_service::Env;
use guest_kit::native::SqliteDb;
use guest_kit::{
    Clock, Db, Fetch, FetchError, OutboundRequest, OutboundResponse, Request, Response,
};
use serde_json::Value;

use keyward_test_kit::scenarios::guardian::ADDR0;
pub use keyward_test_kit::secrets::{
    HARDHAT_MNEMONIC as HARDHAT, MASTER_KEY as MASTER, OKTA_BASE_URL as OKTA,
};
use keyward_test_kit::{FakeClock, Sandbox};

/// The OIDC identity provider of [`Harness::oidc`].
pub const OIDC_ISSUER: &str = "https://issuer.example";
pub const OIDC_AUDIENCE: &str = "guardian";
pub const OIDC_JWKS: &str = "https://issuer.example/jwks";

pub type Handler = Box<dyn Fn(&OutboundRequest, &Fake) -> Result<OutboundResponse, FetchError>>;

/// The scripted IdP and a virtual monotonic clock (sleep advances it).
pub struct Fake {
    pub clock: Cell<u64>,
    pub sleeps: RefCell<Vec<u64>>,
    pub requests: RefCell<Vec<(String, String, Value)>>,
    pub handler: RefCell<Option<Handler>>,
    pub counter: Cell<u32>,
}

impl Fetch for Fake {
    fn fetch(&self, req: &OutboundRequest) -> Result<OutboundResponse, FetchError> {
        let body = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        self.requests
            .borrow_mut()
            .push((req.method.to_string(), req.url.clone(), body));
        let h = self.handler.borrow();
        match h.as_ref() {
            Some(f) => f(req, self),
            None => Err(FetchError("no handler".into())),
        }
    }
}

impl Clock for Fake {
    fn sleep_ms(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        self.clock.set(self.clock.get() + ms);
    }
    fn monotonic_ms(&self) -> u64 {
        self.clock.get()
    }
}

pub fn ok(v: Value) -> Result<OutboundResponse, FetchError> {
    keyward_test_kit::outbound_json(200, &v)
}

pub fn status(code: u16, v: Value) -> Result<OutboundResponse, FetchError> {
    keyward_test_kit::outbound_json(code, &v)
}

pub struct Harness {
    /// One connection held for the test's own reads and writes. Declared before the sandbox so
    /// it is closed first (fields drop in order): closing the last connection checkpoints and
    /// removes the `-wal` and `-shm` files, and only then is the sandbox's directory removed.
    pub db: SqliteDb,
    pub sandbox: Sandbox,
    /// guardian's wall clock (unix ms); `fake` is its monotonic clock.
    pub now: FakeClock,
    pub fake: Fake,
}

impl Harness {
    pub fn new() -> Harness {
        let sandbox = Sandbox::new("guardian");
        sandbox.set_var("okta_base_url", OKTA);
        let db = sandbox.db();
        Harness {
            db,
            sandbox,
            now: FakeClock::new(1_800_000_000_000),
            fake: Fake {
                clock: Cell::new(0),
                sleeps: RefCell::new(Vec::new()),
                requests: RefCell::new(Vec::new()),
                handler: RefCell::new(None),
                counter: Cell::new(0),
            },
        }
    }

    pub fn set_var(&self, k: &str, v: &str) {
        self.sandbox.set_var(k, v);
    }

    pub fn unset_var(&self, k: &str) {
        self.sandbox.unset_var(k);
    }

    pub fn advance_secs(&self, s: i64) {
        self.now.set(self.now.get() + s * 1000);
    }

    /// A harness whose OIDC login trusts `signers`, served as the JWKS at [`OIDC_JWKS`] for
    /// issuer [`OIDC_ISSUER`] and audience [`OIDC_AUDIENCE`].
    pub fn oidc(signers: &[&jwt_verify::test_signer::TestSigner]) -> Self {
        let h = Harness::new();
        h.set_var("oidc_issuer", OIDC_ISSUER);
        h.set_var("oidc_audience", OIDC_AUDIENCE);
        h.set_var("oidc_jwks_url", OIDC_JWKS);
        let doc = jwt_verify::test_signer::jwks_json(signers);
        h.idp(move |req, _| {
            assert_eq!(req.url, OIDC_JWKS);
            Ok(OutboundResponse {
                headers: Vec::new(),
                status: 200,
                body: doc.clone().into_bytes(),
            })
        });
        h
    }

    pub fn idp(
        &self,
        f: impl Fn(&OutboundRequest, &Fake) -> Result<OutboundResponse, FetchError> + 'static,
    ) {
        *self.fake.handler.borrow_mut() = Some(Box::new(f));
    }

    fn with_env<R>(&self, f: impl FnOnce(&Env<'_>) -> R) -> R {
        let vars = self.sandbox.vars.snapshot();
        let lookup = move |name: &str| vars.get(name).cloned();
        let env = Env::new(&self.db, &lookup, self.now.get())
            .with_kv(&self.sandbox.kv)
            .with_fetch(&self.fake)
            .with_clock(&self.fake);
        f(&env)
    }

    pub fn login_req(&self, req: Request) -> Response {
        self.with_env(|env| guardian_service::handle_login(env, req))
    }
    pub fn sign_req(&self, req: Request) -> Response {
        self.with_env(|env| guardian_service::handle_sign(env, req))
    }
    pub fn admin_req(&self, req: Request) -> Response {
        self.with_env(|env| guardian_service::handle_authorize(env, req))
    }
    pub fn export_req(&self, req: Request) -> Response {
        self.with_env(|env| guardian_service::handle_export(env, req))
    }

    pub fn login(&self, body: Value) -> Response {
        self.login_req(
            Request::new("POST", "/guardian/login")
                .with_header("spin-client-addr", "127.0.0.1:4000")
                .with_body(body.to_string()),
        )
    }

    /// POST/GET an enduser route with a bearer token.
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut req =
            Request::new(method, path).with_header("authorization", format!("Bearer {token}"));
        if let Some(b) = body {
            req = req.with_body(b.to_string());
        }
        self.sign_req(req)
    }

    /// Inserts a user row holding `mnemonic`, as the e2e test does.
    pub fn insert_user(&self, user_id: &str, mnemonic: &str, address0: &str) {
        guardian_service::store::ensure_schema(&self.db).expect("schema");
        let sealer = Sealer::new(
            &MasterKey::parse(MASTER).expect("key"),
            b"keyward/guardian/mnemonic/v1",
        )
        .expect("sealer");
        let ct = sealer
            .seal(mnemonic.as_bytes(), user_id.as_bytes())
            .expect("seal");
        self.db
            .execute(
                "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?, ?, ?, 0)",
                &[user_id.into(), ct.into(), address0.into()],
            )
            .expect("insert");
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.sandbox.count(sql)
    }

    /// Okta answers SUCCESS for `user` with any password except "bad".
    pub fn okta_success(&self, okta_id: &'static str) {
        self.idp(move |req, _| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["password"] == "bad" {
                return status(401, serde_json::json!({"errorCode": "E0000004", "errorSummary": "Authentication failed"}));
            }
            ok(serde_json::json!({"status": "SUCCESS", "sessionToken": "s", "_embedded": {"user": {"id": okta_id}}}))
        });
    }

    /// A harness whose Okta user `00uHARDHAT` holds the Hardhat mnemonic, and a client token of
    /// theirs.
    pub fn hardhat() -> (Harness, String) {
        let h = Harness::new();
        h.insert_user("okta:00uHARDHAT", HARDHAT, ADDR0);
        let t = h.okta_login_token("00uHARDHAT");
        (h, t)
    }

    /// Logs in through the scripted Okta and returns the client token.
    pub fn okta_login_token(&self, okta_id: &'static str) -> String {
        self.okta_success(okta_id);
        let r = self
            .login(serde_json::json!({"okta_username": "u@example.com", "okta_password": "pw"}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        json(&r)["client_token"].as_str().expect("token").to_owned()
    }
}

/// The body as JSON (through the kit's response wrapper).
#[track_caller]
pub fn json(r: &Response) -> Value {
    keyward_test_kit::Reply::from(r.clone()).json()
}

/// The status, the error code and message (guardian's errors may add a `fresh_client_token`, so
/// not the kit's exact two-field shape), `Cache-Control: no-store`; returns the body.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) -> Value {
    keyward_test_kit::scenarios::guardian::expect_error(&r.clone().into(), status, code)
}

/// One call in a token chain: made with `t`, expected to succeed (and not to be cached); `t`
/// moves on to the fresh token and the body is returned.
#[track_caller]
pub fn chained(
    h: &Harness,
    t: &mut String,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let r = h.call(method, path, t, body);
    assert_eq!(r.status, 200, "{}", json(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    *t = fresh(&r);
    json(&r)
}

pub fn fresh(r: &Response) -> String {
    json(r)["fresh_client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no fresh token: {}", String::from_utf8_lossy(&r.body)))
        .to_owned()
}

impl Harness {
    /// All text of the first column of a query, joined.
    pub fn db_text(&self, sql: &str) -> String {
        self.db
            .execute(sql, &[])
            .expect("query")
            .iter()
            .filter_map(|r| r.text(0).map(str::to_owned))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
