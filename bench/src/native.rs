//! The native baseline: a hyper server running `keyservice-core`'s handlers directly, over
//! SQLite files opened like the host's embedded backend (WAL, `synchronous=FULL`, busy timeout).
//! Started by the bench as a child process of its own binary (`keyward-bench __native-server
//! <state dir>`), so its peak RSS is measured the same way as the host's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use guest_kit::native::{SqliteDb, SqliteKv};
use guest_kit::{Db, Request, Response};
use http_body_util::{BodyExt, Full};
use keyservice_core::Env;
use tokio::net::TcpListener;

use crate::io::Io;

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

struct State {
    db: Pool<SqliteDb>,
    kv: Pool<SqliteKv>,
    vars: HashMap<String, String>,
}

fn open_db(path: &Path) -> SqliteDb {
    let db = SqliteDb::open(path).expect("open sqlite");
    db.execute("PRAGMA journal_mode=WAL", &[]).expect("wal");
    db.execute("PRAGMA synchronous=FULL", &[]).expect("sync");
    db
}

/// The keyservice variables with the values the host resolves from the bench's environment and
/// the manifest defaults.
fn variables() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("sessionist_max_skew_seconds", "300"),
        ("init_token_ttl_seconds", "600"),
        ("session_ttl_seconds", "86400"),
        ("session_idle_seconds", "0"),
        ("max_key_bytes", "65536"),
        ("init_rate_limit_per_minute", "60"),
        ("client_addr_header", ""),
        ("cors_allowed_origins", ""),
        ("admin_token", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("SPIN_VARIABLE_") {
            vars.insert(name.to_ascii_lowercase(), v);
        }
    }
    vars
}

pub fn serve(state_dir: PathBuf) {
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let db_path = state_dir.join("keyservice.db");
    let kv_path = state_dir.join("sqlite_key_value.db");
    // journal_mode is persistent in the file; the kv connections keep SQLite's default
    // synchronous level, which is FULL.
    drop(open_db(&kv_path));
    let state = Arc::new(State {
        db: Pool {
            free: Mutex::new(Vec::new()),
            open: Box::new(move || open_db(&db_path)),
        },
        kv: Pool {
            free: Mutex::new(Vec::new()),
            open: Box::new(move || SqliteKv::open(&kv_path).expect("open kv")),
        },
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
    // What the host adds for every guest request (keyservice-core reads it).
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

fn env<'a>(
    db: &'a dyn Db,
    kv: Option<&'a dyn guest_kit::Kv>,
    vars: &'a dyn Fn(&str) -> Option<String>,
) -> Env<'a> {
    Env {
        db,
        kv,
        vars,
        now_ms: guest_kit::unix_now_ms(),
    }
}

fn route(state: &State, req: Request) -> Response {
    let path = req.path().to_string();
    let vars = |name: &str| state.vars.get(name).cloned();
    state.db.with(|db| match path.as_str() {
        "/bench/noop" => Response::new(200).with_body(b"ok".to_vec()),
        "/init" | "/keyservice/openapi.json" => state
            .kv
            .with(|kv| keyservice_core::handle_init(&env(db, Some(kv), &vars), req)),
        "/connect" => keyservice_core::handle_connect(&env(db, None, &vars), req),
        "/key" => keyservice_core::handle_key(&env(db, None, &vars), req),
        p if p == "/admin/namespaces" || p.starts_with("/admin/namespaces/") => {
            keyservice_core::handle_admin(&env(db, None, &vars), req)
        }
        _ => Response::new(404),
    })
}
