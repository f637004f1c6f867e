//! `cargo xtask bench` (or, after `cargo xtask build-wasm && cargo build --release -p
//! keyward-host`, `cargo run --release -p keyward-bench`): keyward against a native baseline
//! running the same keyservice code, over loopback, with one closed-loop load generator.
//! See docs/PERFORMANCE.md.
//!
//! Environment: `KEYWARD_BENCH_SECS` (seconds per scenario and side, default 5),
//! `KEYWARD_BIN` (host binary, default `<target>/release/keyward`), `CARGO_TARGET_DIR`.

mod io;
mod load;
mod micro;
mod native;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Outcome, Req};
use serde_json::json;

const MASTER_KEY: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";
const ADMIN_TOKEN: &str = "bench-admin-token-with-enough-entropy-0123456789";
const NAMESPACE: &str = "bench";
const WRITE_CLIENTS: usize = 16;
const MAX_REQUESTS: u64 = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__native-server") {
        let dir = args.get(1).expect("state dir");
        native::serve(PathBuf::from(dir));
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn need(path: PathBuf) -> PathBuf {
    if !path.exists() {
        eprintln!(
            "{} is missing. Run `cargo xtask bench`, or first `cargo xtask build-wasm && cargo \
             build --release -p keyward-host` (same CARGO_TARGET_DIR).",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

fn wasm(name: &str) -> PathBuf {
    need(target_dir().join(format!("wasm32-wasip2/release/{name}.wasm")))
}

/// The product manifest with absolute sources, plus the bench guest at `/bench/...`.
fn manifest() -> String {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("read spin.toml");
    let mut out: Vec<String> = text
        .lines()
        .map(|line| {
            match line
                .strip_prefix("source = \"target/wasm32-wasip2/release/")
                .and_then(|r| r.strip_suffix(".wasm\""))
            {
                Some(name) => format!("source = {:?}", wasm(name).display().to_string()),
                None => line.to_string(),
            }
        })
        .collect();
    out.push(format!(
        "\n[[trigger.http]]\nroute = \"/bench/...\"\ncomponent = \"bench-guest\"\n\n\
         [component.bench-guest]\nsource = {:?}\n",
        wasm("bench_guest").display().to_string()
    ));
    out.join("\n")
}

fn bench_env(cmd: &mut Command) {
    cmd.env("SPIN_VARIABLE_MASTER_KEY", MASTER_KEY)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
        // POST /init is rate-limited per client address; the bench is one address (1e6 is the max).
        .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "1000000");
}

/// A server child process; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Spawns `cmd`, waits for the line starting with `prefix` followed by `http://ADDR`.
    fn start(mut cmd: Command, prefix: &str) -> Server {
        bench_env(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix(prefix) {
                        let a = a.trim().trim_start_matches("http://");
                        break a.parse().expect("listen address");
                    }
                }
                _ => panic!("{cmd:?} exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// Peak resident set size, MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_command(state: &Path, manifest: &Path) -> Command {
    let bin = std::env::var_os("KEYWARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| need(target_dir().join("release/keyward")));
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state)
        .env_remove("KEYWARD_LOG_FORMAT")
        // One log line per request, as in production, but to a file.
        .stderr(Stdio::from(
            std::fs::File::create(state.with_extension("log")).expect("log file"),
        ));
    cmd
}

fn req(method: &'static str, path: &str) -> Req {
    Req {
        method,
        path: path.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn signed(keyid: &str, secret: &str, method: &'static str, path: &str, body: Vec<u8>) -> Req {
    let s = sessionist::sign_now(keyid, secret, method, path, &body).expect("sign");
    Req {
        method,
        path: path.to_string(),
        headers: vec![
            ("authorization", s.authorization),
            ("x-date", s.date),
            ("content-type", "application/octet-stream".to_string()),
        ],
        body,
    }
}

fn json_field(body: &[u8], field: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_string()
}

/// A keyservice session: (session token, init token).
type Session = (String, String);

/// Operator namespace, then one session per client with a stored key.
async fn setup(addr: SocketAddr) -> Vec<Session> {
    let mut r = req("POST", "/admin/namespaces");
    r.headers = vec![
        ("authorization", format!("Bearer {ADMIN_TOKEN}")),
        ("content-type", "application/json".into()),
    ];
    r.body = json!({ "namespace": NAMESPACE }).to_string().into_bytes();
    let (status, body) = load::once(addr, r).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let ns_secret = json_field(&body, "secret");
    let mut sessions = Vec::new();
    for i in 0..WRITE_CLIENTS {
        let (status, body) = load::once(addr, req("POST", "/init")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let init_token = json_field(&body, "initToken");
        let connect = json!({
            "namespace": NAMESPACE,
            "userId": format!("user-{i}"),
            "initTokenHash": sessionist::init_token_hash(&init_token),
        })
        .to_string();
        let (status, body) = load::once(
            addr,
            signed(
                NAMESPACE,
                &ns_secret,
                "POST",
                "/connect",
                connect.into_bytes(),
            ),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let token = json_field(&body, "sessionToken");
        let (status, body) = load::once(
            addr,
            signed(&token, &init_token, "PUT", "/key", key_bytes(0)),
        )
        .await;
        assert!(
            status < 300,
            "PUT /key {status}: {}",
            String::from_utf8_lossy(&body)
        );
        sessions.push((token, init_token));
    }
    sessions
}

fn key_bytes(seq: u64) -> Vec<u8> {
    let mut k = vec![0x5au8; 32];
    k[..8].copy_from_slice(&seq.to_le_bytes());
    k
}

#[derive(Clone, Copy)]
enum Scenario {
    GetKey,
    PutKey,
    Init,
    Noop,
}

impl Scenario {
    fn name(self, clients: usize) -> String {
        let route = match self {
            Scenario::GetKey => "GET /key",
            Scenario::PutKey => "PUT /key",
            Scenario::Init => "POST /init",
            Scenario::Noop => "GET /bench/noop",
        };
        format!("{route}, {clients} clients")
    }
}

async fn drive(
    addr: SocketAddr,
    sessions: &Arc<Vec<Session>>,
    scenario: Scenario,
    clients: usize,
    secs: Duration,
) -> Outcome {
    let s = sessions.clone();
    let make = move |client: usize, seq: u64| {
        let (token, init_token) = &s[client % s.len()];
        match scenario {
            Scenario::GetKey => signed(token, init_token, "GET", "/key", Vec::new()),
            Scenario::PutKey => signed(token, init_token, "PUT", "/key", key_bytes(seq)),
            Scenario::Init => req("POST", "/init"),
            Scenario::Noop => req("GET", "/bench/noop"),
        }
    };
    let expect = match scenario {
        Scenario::PutKey => 204,
        _ => 200,
    };
    // Warm-up (discarded): connections, pools, caches.
    let make = Arc::new(make);
    let m = make.clone();
    load::run(
        addr,
        clients,
        Duration::from_millis(500),
        MAX_REQUESTS,
        expect,
        move |c, q| m(c, q),
    )
    .await;
    load::run(addr, clients, secs, MAX_REQUESTS, expect, move |c, q| {
        make(c, q)
    })
    .await
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

async fn bench() {
    let secs = Duration::from_secs(
        std::env::var("KEYWARD_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let work = std::env::temp_dir().join(format!("keyward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let manifest_path = work.join("spin.toml");
    std::fs::write(&manifest_path, manifest()).expect("manifest");
    let host_state = work.join("host-state");
    let native_state = work.join("native-state");

    // Host start to first served request: cold (compiles into the cache), then warm.
    let mut starts = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        let h = Server::start(
            host_command(&host_state, &manifest_path),
            "keyward listening on ",
        );
        let (status, _) = load::once(h.addr, req("GET", "/bench/noop")).await;
        assert_eq!(status, 200);
        starts.push(t.elapsed());
    }
    let host = Server::start(
        host_command(&host_state, &manifest_path),
        "keyward listening on ",
    );
    let me = std::env::current_exe().expect("current exe");
    let mut ncmd = Command::new(me);
    ncmd.arg("__native-server").arg(&native_state);
    let native = Server::start(ncmd, "native listening on ");

    let host_sessions = Arc::new(setup(host.addr).await);
    let native_sessions = Arc::new(setup(native.addr).await);

    let scenarios = [
        (Scenario::GetKey, WRITE_CLIENTS),
        (Scenario::GetKey, 1),
        (Scenario::PutKey, WRITE_CLIENTS),
        (Scenario::Init, WRITE_CLIENTS),
        (Scenario::Noop, 1),
    ];
    println!(
        "\nkeyward vs native baseline, {}s per scenario and side, closed loop, HTTP/1.1 keep-alive, loopback\n",
        secs.as_secs()
    );
    println!("| scenario | side | req/s | p50 | p99 | errors | ratio keyward/native (req/s) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut noop = (0.0, 0.0);
    for (scenario, clients) in scenarios {
        let k = drive(host.addr, &host_sessions, scenario, clients, secs).await;
        let n = drive(native.addr, &native_sessions, scenario, clients, secs).await;
        let name = scenario.name(clients);
        for (side, o) in [("keyward", &k), ("native", &n)] {
            let ratio = if side == "keyward" {
                format!("{:.2}×", k.rps() / n.rps())
            } else {
                String::new()
            };
            println!(
                "| {name} | {side} | {:.0} | {} | {} | {} | {ratio} |",
                o.rps(),
                ms(o.percentile_us(0.5)),
                ms(o.percentile_us(0.99)),
                o.errors
            );
        }
        if matches!(scenario, Scenario::Noop) {
            noop = (k.percentile_us(0.5), n.percentile_us(0.5));
        }
    }
    println!(
        "\npeak RSS (VmHWM, whole run): keyward {:.1} MiB, native {:.1} MiB",
        host.peak_rss_mib(),
        native.peak_rss_mib()
    );

    println!("\nmicrobenchmarks\n");
    println!("| what | keyward (wasm) | native | wasm speed / native |");
    println!("|---|---:|---:|---:|");
    println!(
        "| minimal route p50 at concurrency 1 (instantiate + call + HTTP) | {:.1} µs | {:.1} µs | difference {:.1} µs per request |",
        noop.0,
        noop.1,
        noop.0 - noop.1
    );
    println!(
        "| host start → first served request, cold cache / warm cache | {:.0} ms / {:.0} ms | | |",
        starts[0].as_secs_f64() * 1e3,
        starts[1].as_secs_f64() * 1e3
    );
    for (op, n) in [
        ("secp256k1", 500u64),
        ("aes-gcm", 20_000),
        ("hmac-sha512", 50_000),
    ] {
        let mut wasm_best = u128::MAX;
        let mut native_best = u128::MAX;
        for _ in 0..3 {
            let (status, body) =
                load::once(host.addr, req("GET", &format!("/bench/{op}?n={n}"))).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let text = String::from_utf8_lossy(&body).to_string();
            let ns: u128 = text
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("elapsed ns");
            wasm_best = wasm_best.min(ns);
            native_best = native_best.min(micro::run(op, n));
        }
        let label = match op {
            "secp256k1" => "secp256k1 sign (RFC 6979, recoverable), per op",
            "aes-gcm" => "AES-256-GCM envelope seal + open, 32 B, per op",
            _ => "HMAC-SHA512, 200 B, per op",
        };
        let per = |t: u128| t as f64 / n as f64 / 1000.0;
        println!(
            "| {label} | {:.2} µs | {:.2} µs | {:.2}× |",
            per(wasm_best),
            per(native_best),
            native_best as f64 / wasm_best as f64
        );
    }
    drop(host);
    drop(native);
    let _ = std::fs::remove_dir_all(&work);
}
