//! Shared harness for guardian-service's native tests: real SQLite, in-memory KV, variables,
//! a fake clock and a scripted identity provider behind guest-kit's `Fetch` and `Clock`.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;

use envelope::{MasterKey, Sealer};
use guardian_service::Env;
use guest_kit::native::SqliteDb;
use guest_kit::{
    Clock, Db, Fetch, FetchError, MemoryKv, OutboundRequest, OutboundResponse, Request, Response,
};
use serde_json::Value;

pub const MASTER: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";
pub const HARDHAT: &str = "test test test test test test test test test test test junk";
pub const OKTA: &str = "https://dev-1.okta.com";

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
    Ok(OutboundResponse {
        status: 200,
        headers: Vec::new(),
        body: v.to_string().into_bytes(),
    })
}

pub fn status(code: u16, v: Value) -> Result<OutboundResponse, FetchError> {
    Ok(OutboundResponse {
        status: code,
        headers: Vec::new(),
        body: v.to_string().into_bytes(),
    })
}

pub struct Harness {
    pub db: SqliteDb,
    pub path: PathBuf,
    pub kv: MemoryKv,
    pub vars: RefCell<HashMap<String, String>>,
    pub now: Cell<i64>,
    pub fake: Fake,
}

impl Harness {
    pub fn new() -> Harness {
        let path = std::env::temp_dir().join(format!(
            "guardian-svc-{}-{}.db",
            std::process::id(),
            rand_suffix()
        ));
        let db = SqliteDb::open(&path).expect("open db");
        let mut vars = HashMap::new();
        vars.insert("master_key".to_owned(), MASTER.to_owned());
        vars.insert("okta_base_url".to_owned(), OKTA.to_owned());
        Harness {
            db,
            path,
            kv: MemoryKv::new(),
            vars: RefCell::new(vars),
            now: Cell::new(1_800_000_000_000),
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
        self.vars.borrow_mut().insert(k.to_owned(), v.to_owned());
    }

    pub fn unset_var(&self, k: &str) {
        self.vars.borrow_mut().remove(k);
    }

    pub fn advance_secs(&self, s: i64) {
        self.now.set(self.now.get() + s * 1000);
    }

    pub fn idp(
        &self,
        f: impl Fn(&OutboundRequest, &Fake) -> Result<OutboundResponse, FetchError> + 'static,
    ) {
        *self.fake.handler.borrow_mut() = Some(Box::new(f));
    }

    fn with_env<R>(&self, f: impl FnOnce(&Env<'_>) -> R) -> R {
        let vars = self.vars.borrow().clone();
        let lookup = move |name: &str| vars.get(name).cloned();
        let env = Env::new(&self.db, &lookup, self.now.get())
            .with_kv(&self.kv)
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
        self.db
            .execute(sql, &[])
            .expect("count")
            .first()
            .and_then(|r| r.integer(0))
            .expect("integer")
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

    /// Logs in through the scripted Okta and returns the client token.
    pub fn okta_login_token(&self, okta_id: &'static str) -> String {
        self.okta_success(okta_id);
        let r = self
            .login(serde_json::json!({"okta_username": "u@example.com", "okta_password": "pw"}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        json(&r)["client_token"].as_str().expect("token").to_owned()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rand_suffix() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("rng");
    u64::from_le_bytes(b)
}

pub fn json(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&r.body)))
}

#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) -> Value {
    let j = json(r);
    assert_eq!(
        (r.status, j["code"].as_str().unwrap_or("")),
        (status, code),
        "{j}"
    );
    assert!(j["message"].is_string());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    j
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
