//! Native harness: drives `shield_service::handle` with a real SQLite file, an in-memory
//! key-value store, variables, a fake clock and an in-memory outbound HTTP handler. Every call
//! opens a fresh connection, like a fresh component instance.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use guest_kit::native::SqliteDb;
use guest_kit::{Fetch, FetchError, MemoryKv, OutboundRequest, OutboundResponse, Request};
use serde_json::{Value, json};
use shield_service::{Env, Group};

pub const MASTER_KEY: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";
/// 2026-12-01T10:00:00Z.
pub const T0_MS: i64 = 1_796_119_200_000;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

type Handler = Box<dyn Fn(&OutboundRequest) -> Result<OutboundResponse, FetchError>>;

pub struct MockFetch {
    pub handler: RefCell<Option<Handler>>,
    pub seen: Mutex<Vec<OutboundRequest>>,
}

impl Fetch for MockFetch {
    fn fetch(&self, req: &OutboundRequest) -> Result<OutboundResponse, FetchError> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(req.clone());
        }
        match self.handler.borrow().as_ref() {
            Some(h) => h(req),
            None => Err(FetchError("no handler".into())),
        }
    }
}

pub struct Harness {
    pub dir: PathBuf,
    pub db_path: PathBuf,
    pub kv: MemoryKv,
    pub vars: RefCell<HashMap<String, String>>,
    pub now_ms: Cell<i64>,
    pub fetch: MockFetch,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(
            (self.status, self.code(), self.message()),
            (status, code.to_owned(), message.to_owned()),
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.json().as_object().map(|o| o.len()), Some(2));
    }
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }
}

pub struct Project {
    pub api_key: String,
    pub api_secret: String,
    pub part: Option<String>,
    pub id: String,
}

impl Harness {
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("shield-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let mut vars = HashMap::new();
        vars.insert("master_key".to_owned(), MASTER_KEY.to_owned());
        Harness {
            db_path: dir.join("shield.db"),
            dir,
            kv: MemoryKv::new(),
            vars: RefCell::new(vars),
            now_ms: Cell::new(T0_MS),
            fetch: MockFetch {
                handler: RefCell::new(None),
                seen: Mutex::new(Vec::new()),
            },
        }
    }

    pub fn set_var(&self, k: &str, v: &str) {
        self.vars.borrow_mut().insert(k.to_owned(), v.to_owned());
    }

    pub fn on_fetch(
        &self,
        f: impl Fn(&OutboundRequest) -> Result<OutboundResponse, FetchError> + 'static,
    ) {
        *self.fetch.handler.borrow_mut() = Some(Box::new(f));
    }

    pub fn db(&self) -> SqliteDb {
        SqliteDb::open(&self.db_path).expect("open db")
    }

    /// The one integer a `SELECT COUNT(*) …` answers.
    pub fn count(&self, sql: &str) -> i64 {
        use guest_kit::Db;
        self.db()
            .execute(sql, &[])
            .expect("query")
            .first()
            .and_then(|r| r.integer(0))
            .expect("count")
    }

    pub fn call(&self, req: Request) -> Reply {
        let group = match req.path() {
            p if p.starts_with("/shares/encryption/") || p.starts_with("/shares/migration/") => {
                Group::Admin
            }
            "/admin/preregister" => Group::Admin,
            p if p.starts_with("/shares") || p == "/keychain" => Group::Shares,
            _ => Group::Project,
        };
        let db = self.db();
        let vars = self.vars.borrow().clone();
        let lookup = move |name: &str| vars.get(name).cloned();
        let env = Env::new(&db, &lookup, self.now_ms.get())
            .with_kv(&self.kv)
            .with_fetch(&self.fetch);
        let resp = shield_service::handle(&env, group, req);
        Reply {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
        }
    }

    pub fn register(&self, with_key: bool) -> Project {
        let body = json!({"name": "p", "generate_encryption_key": with_key}).to_string();
        let r = self
            .call(Request::new("POST", "/register").with_body(body))
            .ok(201);
        Project {
            api_key: r["api_key"].as_str().expect("api_key").to_owned(),
            api_secret: r["api_secret"].as_str().expect("secret").to_owned(),
            part: r["encryption_part"].as_str().map(str::to_owned),
            id: r["id"].as_str().expect("id").to_owned(),
        }
    }

    pub fn ps(&self, p: &Project, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = Request::new(method, path)
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-API-Secret", &p.api_secret);
        if let Some(b) = body {
            req = req.with_body(b.to_string());
        }
        self.call(req)
    }

    /// A user request with a CUSTOM PEM provider token.
    pub fn user(&self, p: &Project, token: &str, method: &str, path: &str) -> Request {
        Request::new(method, path)
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "custom")
            .with_header("Authorization", format!("Bearer {token}"))
    }
}
