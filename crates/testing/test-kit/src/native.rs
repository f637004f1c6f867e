//! The native side: a service's storage and settings as one component instance sees them (a real
//! SQLite file opened afresh for every call, an in-memory key-value store, variables, a fake
//! clock), and [`NativeDriver`], which runs the service crates' entry points in-process for the
//! component `spin.toml` routes a path to.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use guest_kit::native::SqliteDb;
use guest_kit::{
    Db, Env, Fetch, FetchError, MemoryKv, OutboundRequest, OutboundResponse, Request, Response,
    RouteGroup, Rows, Value,
};

use crate::driver::Driver;
use crate::reply::Reply;
use crate::routes::{Component, RouteTable};
use crate::secrets::{MASTER_KEY, T0_MS};

/// The fake clock: unix milliseconds that move only when a test moves them.
#[derive(Debug)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    pub fn new(ms: i64) -> Self {
        FakeClock(AtomicI64::new(ms))
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

/// Variables as `spin.toml` and the runtime config would resolve them.
#[derive(Debug, Default)]
pub struct Vars(Mutex<HashMap<String, String>>);

impl Vars {
    pub fn set(&self, name: &str, value: &str) {
        self.lock().insert(name.to_owned(), value.to_owned());
    }
    pub fn unset(&self, name: &str) {
        self.lock().remove(name);
    }
    pub fn get(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }
    /// A copy, so a call sees one consistent set even if a test changes them meanwhile.
    pub fn snapshot(&self) -> HashMap<String, String> {
        self.lock().clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One service's storage and settings under a fresh temporary directory (removed on drop).
pub struct Sandbox {
    pub dir: PathBuf,
    /// `<dir>/<label>.db`, as the host names a label's embedded database.
    pub db_path: PathBuf,
    pub kv: MemoryKv,
    pub vars: Vars,
    pub now_ms: FakeClock,
}

impl Sandbox {
    /// A sandbox for the database `label`, with `master_key` set and the clock at [`T0_MS`].
    pub fn new(label: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("keyward-{label}-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let vars = Vars::default();
        vars.set("master_key", MASTER_KEY);
        Sandbox {
            db_path: dir.join(format!("{label}.db")),
            dir,
            kv: MemoryKv::new(),
            vars,
            now_ms: FakeClock::new(T0_MS),
        }
    }

    pub fn set_var(&self, name: &str, value: &str) {
        self.vars.set(name, value);
    }

    pub fn unset_var(&self, name: &str) {
        self.vars.unset(name);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
    }

    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.now_ms.get() / 1000).expect("positive clock")
    }

    /// A fresh connection, as a fresh component instance opens one.
    pub fn db(&self) -> SqliteDb {
        SqliteDb::open(&self.db_path).expect("open db")
    }

    pub fn sql(&self, sql: &str, params: &[Value]) -> Rows {
        self.db().execute(sql, params).expect("sql")
    }

    /// The one integer a `SELECT COUNT(*) …` answers.
    pub fn count(&self, sql: &str) -> i64 {
        self.sql(sql, &[])
            .first()
            .and_then(|r| r.integer(0))
            .expect("count")
    }

    /// Runs `f` with the `Env` a component instance would get: a fresh connection, the current
    /// variables and clock, the key-value store, and `outbound` when the test stands one in.
    pub fn with_env<R>(
        &self,
        outbound: Option<&dyn Fetch>,
        f: impl FnOnce(&Env<'_>, &SqliteDb) -> R,
    ) -> R {
        let db = self.db();
        let vars = self.vars.snapshot();
        let lookup = move |name: &str| vars.get(name).cloned();
        let mut env = Env::new(&db, &lookup, self.now_ms.get()).with_kv(&self.kv);
        if let Some(fetch) = outbound {
            env = env.with_fetch(fetch);
        }
        f(&env, &db)
    }

    /// The keys of the key-value store that start with `prefix`, sorted.
    pub fn kv_keys(&self, prefix: &str) -> Vec<String> {
        use guest_kit::Kv;
        let mut keys: Vec<String> = self
            .kv
            .get_keys()
            .expect("keys")
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        keys
    }

    /// Every byte kept at rest: the files under the directory.
    pub fn at_rest(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("read dir").flatten() {
            if let Ok(b) = std::fs::read(entry.path()) {
                out.extend_from_slice(&b);
            }
        }
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A stand-in for outbound HTTP: records every request and answers with the test's handler
/// (none set: the request fails, as an unreachable host would).
pub struct ScriptedFetch<
    H: ?Sized = dyn Fn(&OutboundRequest) -> Result<OutboundResponse, FetchError>,
> {
    pub handler: RefCell<Option<Box<H>>>,
    pub seen: Mutex<Vec<OutboundRequest>>,
}

impl<H: ?Sized> Default for ScriptedFetch<H> {
    fn default() -> Self {
        ScriptedFetch {
            handler: RefCell::new(None),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl<H: ?Sized> ScriptedFetch<H> {
    pub fn set(&self, handler: Box<H>) {
        *self.handler.borrow_mut() = Some(handler);
    }

    /// Records `req`, then asks `call` to answer it with the handler.
    pub fn answer(
        &self,
        req: &OutboundRequest,
        call: impl FnOnce(&H) -> Result<OutboundResponse, FetchError>,
    ) -> Result<OutboundResponse, FetchError> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(req.clone());
        }
        match self.handler.borrow().as_deref() {
            Some(h) => call(h),
            None => Err(FetchError("no handler".into())),
        }
    }
}

impl Fetch for ScriptedFetch {
    fn fetch(&self, req: &OutboundRequest) -> Result<OutboundResponse, FetchError> {
        self.answer(req, |h| h(req))
    }
}

/// An outbound response with a JSON body.
pub fn outbound_json(status: u16, v: &serde_json::Value) -> Result<OutboundResponse, FetchError> {
    Ok(OutboundResponse {
        status,
        headers: Vec::new(),
        body: v.to_string().into_bytes(),
    })
}

/// Runs the service crates in-process for the component their `COMPONENTS` tables (the same as
/// `spin.toml`'s) route each path to, with the
/// platform's part done as the host does it: unrouted paths are a JSON 404, and
/// `spin-client-addr` is the driver's peer address whatever the client sent.
pub struct NativeDriver {
    pub sandbox: Sandbox,
    routes: RouteTable,
    /// The peer address the "host" reports (the HTTP driver's clients connect from 127.0.0.1).
    pub peer: String,
    /// How far the fake clock moves before each request (0: it moves only when a test moves it).
    clock_step_ms: i64,
    /// A header the service itself must put on every answer (the host would add some, such as
    /// `Date`, when the service does not, so only the native run can see it missing).
    required_header: Option<&'static str>,
    /// What outbound HTTP reaches (none: every outbound request fails, as an unreachable host).
    outbound: Option<Box<dyn Fetch + Send + Sync>>,
}

impl NativeDriver {
    /// A driver over a fresh sandbox for the database `label`, with `vars` set.
    pub fn new(label: &str, vars: &[(&str, &str)]) -> Self {
        let sandbox = Sandbox::new(label);
        for (k, v) in vars {
            sandbox.set_var(k, v);
        }
        NativeDriver {
            sandbox,
            routes: RouteTable::product(),
            peer: "127.0.0.1:40000".to_owned(),
            clock_step_ms: 0,
            required_header: None,
            outbound: None,
        }
    }

    /// The clock moves `step_ms` before each request, as a real one moves between requests.
    pub fn ticking(mut self, step_ms: i64) -> Self {
        self.clock_step_ms = step_ms;
        self
    }

    /// Every answer must carry `header`, set by the service itself.
    pub fn requiring_header(mut self, header: &'static str) -> Self {
        self.required_header = Some(header);
        self
    }

    /// Outbound HTTP reaches `fetch` (a stand-in for the identity providers).
    pub fn with_outbound(mut self, fetch: impl Fetch + Send + Sync + 'static) -> Self {
        self.outbound = Some(Box::new(fetch));
        self
    }

    /// One request through one component, as the host invokes it.
    pub fn invoke(&self, component: Component, req: Request) -> Response {
        self.invoke_group(component.group, req)
    }

    /// One request through a route group's entry point, as its component calls it.
    pub fn invoke_group(&self, group: RouteGroup, req: Request) -> Response {
        let outbound = self.outbound.as_deref().map(|f| f as &dyn Fetch);
        self.sandbox
            .with_env(outbound, |env, _| (group.handle)(env, req))
    }
}

impl std::ops::Deref for NativeDriver {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Driver for NativeDriver {
    fn send(&self, mut req: Request) -> Reply {
        self.sandbox
            .now_ms
            .set(self.sandbox.now_ms.get() + self.clock_step_ms);
        let path = req.path().to_owned();
        let Some(component) = self.routes.route(&path) else {
            return Response::json(
                404,
                &serde_json::json!({"message": format!("no route matches {path}"), "code": "NOT_FOUND"}),
            )
            .into();
        };
        req.headers
            .retain(|(n, _)| !n.to_ascii_lowercase().starts_with("spin-"));
        req = req.with_header("spin-client-addr", &self.peer);
        let resp = self.invoke(component, req);
        if let Some(header) = self.required_header {
            assert!(
                resp.header(header).is_some(),
                "every answer carries {header}"
            );
        }
        resp.into()
    }

    fn now_ms(&self) -> i64 {
        self.sandbox.now_ms.get()
    }

    fn sql(&self, _label: &str, sql: &str, params: &[Value]) -> Rows {
        self.sandbox.sql(sql, params)
    }

    fn at_rest(&self, _label: &str) -> Vec<u8> {
        self.sandbox.at_rest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A harness leaves nothing in the temporary directory: its database, the `-wal` and `-shm`
    /// files beside it and anything else under its directory go when it drops.
    #[test]
    fn a_sandbox_removes_its_directory() {
        let sandbox = Sandbox::new("leak-check");
        let dir = sandbox.dir.clone();
        {
            let db = sandbox.db();
            db.execute("CREATE TABLE t (x INTEGER)", &[])
                .expect("create");
            db.execute("INSERT INTO t VALUES (1)", &[]).expect("insert");
            assert!(sandbox.db_path.exists());
        }
        std::fs::write(dir.join("extra"), b"x").expect("write");
        drop(sandbox);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
