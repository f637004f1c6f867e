//! The native baseline: a hyper server running the service crates' entry points directly
//! (`keyservice-service`, `shield-service`, `guardian-service`, routed as `spin.toml` routes them to
//! components), over SQLite files opened like the host's embedded backend (WAL,
//! `synchronous` as the host's, busy timeout), with a blocking loopback HTTP client where the components
//! use wasi-http. Started by the bench as a child process of its own binary (`keyward-bench
//! __native-server <state dir>`), so its peak RSS is measured the same way as the host's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use embedded_sqlite::Synchronous;
use guest_kit::Env;
use guest_kit::native::{SqliteDb, SqliteKv};
use guest_kit::router::spin_component;
use guest_kit::{Fetch, FetchError, OutboundRequest, OutboundResponse, Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

use crate::io::Io;
use crate::stub;

/// Connections are reused across requests, as the host's pool does.
struct Pool<T> {
    free: Mutex<Vec<T>>,
    open: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> Pool<T> {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let item = self
            .free
            .lock()
            .expect("pool lock")
            .pop()
            .unwrap_or_else(|| (self.open)());
        let out = f(&item);
        self.free.lock().expect("pool lock").push(item);
        out
    }
}

impl Pool<SqliteDb> {
    fn db(path: PathBuf) -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
            open: Box::new(move || open_db(&path)),
        }
    }
}

impl Pool<SqliteKv> {
    fn kv(path: PathBuf) -> Self {
        // journal_mode is persistent in the file; the kv connections keep SQLite's default
        // synchronous level, which is FULL.
        drop(open_db(&path));
        Pool {
            free: Mutex::new(Vec::new()),
            open: Box::new(move || SqliteKv::open(&path).expect("open kv")),
        }
    }
}

/// One SQLite database and one key-value store per label, as the host's embedded backend.
struct State {
    db: Pool<SqliteDb>,
    kv: Pool<SqliteKv>,
    shield_db: Pool<SqliteDb>,
    shield_kv: Pool<SqliteKv>,
    guardian_db: Pool<SqliteDb>,
    guardian_kv: Pool<SqliteKv>,
    vars: HashMap<String, String>,
}

/// The SQLite sync level of both sides: `KEYWARD_SQLITE_SYNCHRONOUS`, which the host also reads
/// (its `--sqlite-synchronous`), `full` unless set.
pub fn sqlite_synchronous() -> &'static str {
    match std::env::var("KEYWARD_SQLITE_SYNCHRONOUS").as_deref() {
        Ok("normal") => "NORMAL",
        _ => "FULL",
    }
}

fn open_db(path: &Path) -> SqliteDb {
    let level = match sqlite_synchronous() {
        "NORMAL" => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    SqliteDb::open_with(path, level).expect("open sqlite")
}

/// The application variables with the values the host resolves: the `[variables]` defaults of
/// the product `spin.toml`, overridden by `SPIN_VARIABLE_*` from the environment.
fn variables() -> HashMap<String, String> {
    let manifest = crate::repo_root().join("spin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read spin.toml");
    let mut vars = HashMap::new();
    let mut in_vars = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_vars = line == "[variables]";
            continue;
        }
        if !in_vars {
            continue;
        }
        let Some((name, rest)) = line.split_once('=') else {
            continue;
        };
        if let Some(default) = rest
            .split_once("default = \"")
            .and_then(|(_, d)| d.split_once('"'))
            .map(|(d, _)| d)
        {
            vars.insert(name.trim().to_string(), default.to_string());
        }
    }
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("SPIN_VARIABLE_") {
            vars.insert(name.to_ascii_lowercase(), v);
        }
    }
    vars
}

pub fn serve(state_dir: PathBuf) {
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let state = Arc::new(State {
        db: Pool::db(state_dir.join("keyservice.db")),
        kv: Pool::kv(state_dir.join("sqlite_key_value.db")),
        shield_db: Pool::db(state_dir.join("shield.db")),
        shield_kv: Pool::kv(state_dir.join("shield_key_value.db")),
        guardian_db: Pool::db(state_dir.join("guardian.db")),
        guardian_kv: Pool::kv(state_dir.join("guardian_key_value.db")),
        vars: variables(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!(
            "native listening on http://{}",
            listener.local_addr().expect("addr")
        );
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, peer, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(Io(stream), service)
                    .await;
            });
        }
    });
}

async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let mut request = Request::new(
        parts.method.as_str(),
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    )
    .with_body(body);
    for (name, value) in &parts.headers {
        request = request.with_header(name.as_str(), value.as_bytes());
    }
    // What the host adds for every guest request (keyservice-service reads it).
    request = request.with_header("spin-client-addr", peer.to_string());
    let resp = tokio::task::spawn_blocking(move || route(&state, request))
        .await
        .unwrap_or_else(|_| Response::new(500));
    let mut out = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        out = out.header(k, v);
    }
    out.body(Full::new(Bytes::from(resp.body)))
        .expect("response")
}

/// shield-shares' outbound HTTP (JWKS documents) and guardian-login's (Okta), natively; the
/// Okta poll's clock is guest-kit's `SystemClock`, as in the components.
struct Net;

impl Fetch for Net {
    fn fetch(&self, req: &OutboundRequest) -> Result<OutboundResponse, FetchError> {
        let (status, body) = stub::send(
            &req.method,
            &req.url,
            &req.headers,
            &req.body,
            req.timeout_ms,
        )
        .map_err(FetchError)?;
        Ok(OutboundResponse {
            status,
            headers: Vec::new(),
            body,
        })
    }
}

/// Routed as Spin routes, by the services' components tables (docs/platform.md, "Design: route
/// tables"); each component gets its grants as in `spin.toml`: its service's database, and the
/// key-value store and the network only where granted.
fn route(state: &State, req: Request) -> Response {
    if req.path() == "/bench/noop" {
        return Response::new(200).with_body(b"ok".to_vec());
    }
    let components = keyservice_service::COMPONENTS
        .iter()
        .chain(shield_service::COMPONENTS)
        .chain(guardian_service::COMPONENTS);
    let Some(component) = spin_component(components, req.path()) else {
        return Response::new(404);
    };
    let vars = |name: &str| state.vars.get(name).cloned();
    let (db, kv) = match component.id.split('-').next() {
        Some("keyservice") => (&state.db, &state.kv),
        Some("shield") => (&state.shield_db, &state.shield_kv),
        _ => (&state.guardian_db, &state.guardian_kv),
    };
    let handle = component.group.handle;
    db.with(|db| {
        let env = Env::new(db, &vars, guest_kit::unix_now_ms());
        match component.id {
            "keyservice-init" => kv.with(|kv| handle(&env.with_kv(kv), req)),
            "shield-shares" | "guardian-login" => {
                kv.with(|kv| handle(&env.with_kv(kv).with_fetch(&Net), req))
            }
            _ => handle(&env, req),
        }
    })
}
