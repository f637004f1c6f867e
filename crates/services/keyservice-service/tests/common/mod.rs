//! Test harness: drives the `handle_*` entry points with a real SQLite file,
//! an in-memory key-value store, configurable variables and a fake clock.
//! Every call opens a fresh connection, like a fresh component instance.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use guest_kit::native::SqliteDb;
use guest_kit::{Db, MemoryKv, Request, Response, Rows, Value};
use keyservice_service::{Env, Group};

pub const MASTER_KEY: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Tue, 01 Dec 2026 10:00:00 GMT.
pub const T0_MS: i64 = 1_796_119_200_000;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Harness {
    pub dir: PathBuf,
    pub db_path: PathBuf,
    pub kv: MemoryKv,
    pub vars: RefCell<HashMap<String, String>>,
    pub now_ms: Cell<i64>,
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

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
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

    /// Every error is exactly `{"message","code"}` as JSON.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        let obj = v.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 2, "only message and code");
        assert!(obj["message"].is_string());
        assert_eq!(obj["code"], code);
    }
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

pub struct Session {
    pub namespace: String,
    pub user_id: String,
    pub init_token: String,
    pub session_token: String,
}

impl Harness {
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "keyservice-service-test-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db_path = dir.join("keyservice.db");
        let mut vars = HashMap::new();
        vars.insert("master_key".to_owned(), MASTER_KEY.to_owned());
        vars.insert("admin_token".to_owned(), ADMIN_TOKEN.to_owned());
        Harness {
            dir,
            db_path,
            kv: MemoryKv::new(),
            vars: RefCell::new(vars),
            now_ms: Cell::new(T0_MS),
        }
    }

    pub fn set_var(&self, name: &str, value: &str) {
        self.vars
            .borrow_mut()
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn unset_var(&self, name: &str) {
        self.vars.borrow_mut().remove(name);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
    }

    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.now_ms.get() / 1000).expect("positive clock")
    }

    pub fn db(&self) -> SqliteDb {
        SqliteDb::open(&self.db_path).expect("open db")
    }

    pub fn sql(&self, sql: &str, params: &[Value]) -> Rows {
        self.db().execute(sql, params).expect("sql")
    }

    pub fn call(&self, group: Group, req: Request) -> Reply {
        let db = self.db();
        let vars = self.vars.borrow().clone();
        let lookup = move |name: &str| vars.get(name).cloned();
        let env = Env::new(&db, &lookup, self.now_ms.get()).with_kv(&self.kv);
        let resp = match group {
            Group::Init => keyservice_service::handle_init(&env, req),
            Group::Connect => keyservice_service::handle_connect(&env, req),
            Group::Key => keyservice_service::handle_key(&env, req),
            Group::Admin => keyservice_service::handle_admin(&env, req),
        };
        assert!(resp.header("date").is_some(), "every response carries Date");
        resp.into()
    }

    // ---- operator ----

    pub fn admin(&self, method: &str, path: &str, body: &str) -> Reply {
        let req = Request::new(method, path)
            .with_header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
            .with_body(body.as_bytes().to_vec());
        self.call(Group::Admin, req)
    }

    pub fn create_namespace(&self, namespace: &str, cidrs: &[&str]) -> String {
        let body = serde_json::json!({ "namespace": namespace, "allowed_cidrs": cidrs });
        let r = self.admin("POST", "/admin/namespaces", &body.to_string());
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["secret"].as_str().expect("secret").to_owned()
    }

    // ---- flow ----

    pub fn init(&self) -> String {
        let r = self.call(Group::Init, Request::new("POST", "/init"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["initToken"]
            .as_str()
            .expect("initToken")
            .to_owned()
    }

    /// A signed request at the harness clock, with `X-Date`.
    pub fn signed(
        &self,
        keyid: &str,
        secret: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Request {
        let s =
            sessionist::sign_at(keyid, secret, method, path, body, self.now_secs()).expect("sign");
        Request::new(method, path)
            .with_header("Authorization", s.authorization)
            .with_header("X-Date", s.date)
            .with_body(body.to_vec())
    }

    pub fn connect_req(&self, namespace: &str, secret: &str, user_id: &str, hash: &str) -> Request {
        let body =
            serde_json::json!({ "namespace": namespace, "userId": user_id, "initTokenHash": hash });
        self.signed(
            namespace,
            secret,
            "POST",
            "/connect",
            body.to_string().as_bytes(),
        )
        .with_header("spin-client-addr", "203.0.113.10:40000")
    }

    pub fn connect(&self, namespace: &str, secret: &str, user_id: &str, hash: &str) -> Reply {
        self.call(
            Group::Connect,
            self.connect_req(namespace, secret, user_id, hash),
        )
    }

    /// init + connect → a live session.
    pub fn session(&self, namespace: &str, secret: &str, user_id: &str) -> Session {
        let init_token = self.init();
        let r = self.connect(
            namespace,
            secret,
            user_id,
            &sessionist::init_token_hash(&init_token),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        Session {
            namespace: namespace.to_owned(),
            user_id: user_id.to_owned(),
            init_token,
            session_token: r.json()["sessionToken"]
                .as_str()
                .expect("sessionToken")
                .to_owned(),
        }
    }

    pub fn key_req(&self, s: &Session, method: &str, body: &[u8]) -> Request {
        self.signed(&s.session_token, &s.init_token, method, "/key", body)
    }

    pub fn key(&self, s: &Session, method: &str, body: &[u8]) -> Reply {
        self.call(Group::Key, self.key_req(s, method, body))
    }
}
