//! `cargo xtask bench` (or, after `cargo xtask build-wasm && cargo build --release -p
//! keyward-host`, `cargo run --release -p keyward-bench`): keyward against a native baseline
//! running the same keyservice code, over loopback, with one closed-loop load generator.
//! See docs/PERFORMANCE.md.
//!
//! Environment: `KEYWARD_BENCH_SECS` (seconds per scenario and side, default 5),
//! `KEYWARD_BENCH_ONLY` (comma-separated filters: a scenario runs if its name contains one,
//! case-insensitively; `micro` selects the microbenchmarks, `start` the host start times; unset:
//! everything), `KEYWARD_BIN` (host binary, default the newer of `<target>/host/keyward` and
//! `<target>/release/keyward`),
//! `KEYWARD_SQLITE_SYNCHRONOUS` (`full` or `normal`: the host reads it as its flag's variable,
//! the native baseline opens its files the same way; default `full`), `CARGO_TARGET_DIR`.

mod io;
mod load;
mod micro;
mod native;
mod stub;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use load::{Outcome, Req};
// `native` reaches the repository root through the crate root.
pub(crate) use loopback_stub::{repo_root, target_dir};
use serde_json::{Value, json};

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

/// The same variables for both sides; `stub` is the identity-provider stand-in's base URL.
fn bench_env(cmd: &mut Command, stub: &str) {
    cmd.env("SPIN_VARIABLE_MASTER_KEY", MASTER_KEY)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
        // POST /init is rate-limited per client address; the bench is one address (1e6 is the max).
        .env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "1000000")
        // shield counts every authenticated request in its user's and its project's windows
        // (writes); the limits are raised so the counts are still paid but never refuse the
        // bench's one project and its 16 users.
        .env("SPIN_VARIABLE_RATE_LIMIT_REQUESTS", "100000000")
        .env("SPIN_VARIABLE_RATE_LIMIT_USER_REQUESTS", "100000000")
        .env("SPIN_VARIABLE_SHIELD_JWKS_HOSTS", stub)
        .env("SPIN_VARIABLE_OKTA_BASE_URL", stub)
        .env("SPIN_VARIABLE_GUARDIAN_IDP_HOSTS", stub);
}

/// A server child process; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Spawns `cmd`, waits for the line starting with `prefix` followed by `http://ADDR`.
    fn start(mut cmd: Command, prefix: &str, stub: &str) -> Server {
        bench_env(&mut cmd, stub);
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

    /// CPU time the process has used so far (user + system, all threads), seconds: fields 14
    /// and 15 of `/proc/<pid>/stat`, in clock ticks.
    fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The command name (field 2) may hold spaces: count fields after its closing paren.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        (ticks(11) + ticks(12)) / clock_ticks_per_sec()
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

/// The unit of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The newest of `<target>/host/keyward` (a `host` build profile) and `<target>/release/keyward`.
fn default_host_bin() -> PathBuf {
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let candidates = ["host/keyward", "release/keyward"].map(|p| target_dir().join(p));
    let newest = candidates
        .iter()
        .filter_map(|p| modified(p).map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.clone());
    need(newest.unwrap_or_else(|| candidates[1].clone()))
}

fn host_command(state: &Path, manifest: &Path) -> Command {
    let bin = std::env::var_os("KEYWARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(default_host_bin);
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state)
        .env_remove("KEYWARD_LOG_FORMAT")
        // The identity-provider stand-in listens on 127.0.0.1 (docs/OPERATIONS.md, "Outbound
        // safety").
        .env("KEYWARD_ALLOW_OUTBOUND_PRIVATE", "127.0.0.0/8")
        // One log line per request, as in production, but to a file.
        .stderr(Stdio::from(
            std::fs::File::create(state.with_extension("log")).expect("log file"),
        ));
    cmd
}

/// The median `instantiate_us` the host logged for `component`'s requests, and how many there were.
fn instantiate_p50(log: &Path, component: &str) -> Option<(f64, usize)> {
    let text = std::fs::read_to_string(log).ok()?;
    // The text log quotes string fields: `component="keyservice-key"`.
    let wanted = format!("component=\"{component}\"");
    let mut values: Vec<f64> = text
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains(&wanted))
        .filter_map(|l| {
            let rest = l.split("instantiate_us=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .filter(|v: &f64| *v > 0.0)
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((values[values.len() / 2], values.len()))
}

/// Drops terminal colour codes (`ESC [ … m`), which hosts before 9ee7bc9 wrote even to files.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
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

fn json_req(
    method: &'static str,
    path: &str,
    headers: &[(&'static str, &str)],
    body: &Value,
) -> Req {
    let mut r = req(method, path);
    r.headers = headers
        .iter()
        .map(|(k, v)| (*k, (*v).to_string()))
        .chain([("content-type", "application/json".to_string())])
        .collect();
    r.body = body.to_string().into_bytes();
    r
}

/// A JSON POST carrying `token` as its bearer credential.
fn bearer_post(path: &str, token: &str, body: &Value) -> Req {
    json_req(
        "POST",
        path,
        &[("authorization", &format!("Bearer {token}"))],
        body,
    )
}

/// Sends `r` on a fresh connection; panics unless the status is `expect`; returns the body.
async fn call(addr: SocketAddr, r: Req, expect: u16) -> Vec<u8> {
    let what = format!("{} {}", r.method, r.path);
    let (status, body) = load::once(addr, r).await;
    assert_eq!(
        status,
        expect,
        "setup {what}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

/// A keyservice session: (session token, init token).
type Session = (String, String);

/// Operator namespace, then one session per client with a stored key.
async fn setup_keyservice(addr: SocketAddr) -> Vec<Session> {
    let body = call(
        addr,
        bearer_post(
            "/admin/namespaces",
            ADMIN_TOKEN,
            &json!({ "namespace": NAMESPACE }),
        ),
        201,
    )
    .await;
    let ns_secret = json_field(&body, "secret");
    let mut sessions = Vec::new();
    for i in 0..WRITE_CLIENTS {
        let body = call(addr, req("POST", "/init"), 200).await;
        let init_token = json_field(&body, "initToken");
        let connect = json!({
            "namespace": NAMESPACE,
            "userId": format!("user-{i}"),
            "initTokenHash": sessionist::init_token_hash(&init_token),
        })
        .to_string();
        let body = call(
            addr,
            signed(
                NAMESPACE,
                &ns_secret,
                "POST",
                "/connect",
                connect.into_bytes(),
            ),
            200,
        )
        .await;
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

/// shield: one project with a generated encryption key and a custom provider in JWKS mode (the
/// stub's `/jwks.json`), then one user per client, each with a project-entropy share stored through
/// `POST /shares`. Returns what `GET /shares` sends: (api key, encryption part, per-user JWTs).
async fn setup_shield(addr: SocketAddr, stub: &str) -> ShieldUsers {
    let body = call(
        addr,
        json_req(
            "POST",
            "/register",
            &[],
            &json!({"name": "bench", "generate_encryption_key": true}),
        ),
        201,
    )
    .await;
    let api_key = json_field(&body, "api_key");
    let api_secret = json_field(&body, "api_secret");
    let part = json_field(&body, "encryption_part");
    call(
        addr,
        json_req(
            "POST",
            "/project/providers",
            &[("x-api-key", &api_key), ("x-api-secret", &api_secret)],
            &json!({"providers": {"custom": {"jwk": format!("{stub}/jwks.json")}}}),
        ),
        200,
    )
    .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 24 * 3600;
    let signer = stub::signer();
    let mut tokens = Vec::new();
    for i in 0..WRITE_CLIENTS {
        let token = signer.sign(&json!({"sub": format!("bench-user-{i}"), "exp": exp}));
        call(
            addr,
            json_req(
                "POST",
                "/shares",
                &[
                    ("x-api-key", &api_key),
                    ("x-auth-provider", "custom"),
                    ("authorization", &format!("Bearer {token}")),
                ],
                &json!({"secret": format!("bench-secret-{i}"), "entropy": "project",
                    "reference": "default", "encryption_part": part}),
            ),
            201,
        )
        .await;
        tokens.push(token);
    }
    ShieldUsers {
        api_key,
        part,
        tokens,
    }
}

struct ShieldUsers {
    api_key: String,
    part: String,
    tokens: Vec<String>,
}

/// guardian: one Okta login per client (the stub answers SUCCESS), which creates the user's key
/// and its sealed account key, what every measured signature opens (docs/guardian.md, "Design:
/// keys");
/// returns each client's first single-use token. Tokens are chained: every answer carries the
/// next one (`fresh_client_token`), which the load generator's observer keeps per client.
///
/// Checks one signature first: it must recover (natively) to the address the login reported.
async fn setup_guardian(addr: SocketAddr) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..WRITE_CLIENTS {
        let body = call(
            addr,
            json_req(
                "POST",
                "/guardian/login",
                &[],
                &json!({"okta_username": format!("bench-{i}"), "okta_password": "pw",
                    "get_address": true}),
            ),
            200,
        )
        .await;
        let mut token = json_field(&body, "client_token");
        if i == 0 {
            let address = json_field(&body, "address");
            let digest = [0x42u8; 32];
            let body = call(
                addr,
                bearer_post(
                    "/guardian/sign",
                    &token,
                    &json!({"raw_data": "42".repeat(32), "address_index": 0}),
                ),
                200,
            )
            .await;
            let sig = json_field(&body, "signature");
            let bytes: Vec<u8> = (2..sig.len())
                .step_by(2)
                .map(|j| u8::from_str_radix(&sig[j..j + 2], 16).expect("hex signature"))
                .collect();
            let signer = guardian_core::recover_address(&digest, &bytes).expect("recover");
            assert_eq!(
                signer.to_checksum(),
                address,
                "guardian signature does not recover to the user's address"
            );
            token = json_field(&body, "fresh_client_token");
        }
        tokens.push(token);
    }
    tokens
}

fn key_bytes(seq: u64) -> Vec<u8> {
    let mut k = vec![0x5au8; 32];
    k[..8].copy_from_slice(&seq.to_le_bytes());
    k
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    GetKey,
    PutKey,
    Init,
    Shares,
    GuardianSign,
    Noop,
}

impl Scenario {
    fn name(self, clients: usize) -> String {
        let route = match self {
            Scenario::GetKey => "GET /key",
            Scenario::PutKey => "PUT /key",
            Scenario::Init => "POST /init",
            Scenario::Shares => "GET /shares (custom JWT, project entropy)",
            Scenario::GuardianSign => "POST /guardian/sign",
            Scenario::Noop => "GET /bench/noop",
        };
        format!("{route}, {clients} clients")
    }
}

/// One side's setup results.
struct Side {
    keyservice: Vec<Session>,
    shield: Option<ShieldUsers>,
    /// Each guardian client's current token (replaced by every answer's fresh token).
    guardian: Mutex<Vec<String>>,
}

/// Drives one scenario against `server`: the outcome of the measured run and the server
/// process's CPU seconds during it.
async fn drive(
    server: &Server,
    side: &Arc<Side>,
    scenario: Scenario,
    clients: usize,
    secs: Duration,
) -> (Outcome, f64) {
    let addr = server.addr;
    let s = side.clone();
    let make = move |client: usize, seq: u64| match scenario {
        Scenario::GetKey | Scenario::PutKey => {
            let (token, init_token) = &s.keyservice[client % s.keyservice.len()];
            if scenario == Scenario::GetKey {
                signed(token, init_token, "GET", "/key", Vec::new())
            } else {
                signed(token, init_token, "PUT", "/key", key_bytes(seq))
            }
        }
        Scenario::Init => req("POST", "/init"),
        Scenario::Noop => req("GET", "/bench/noop"),
        Scenario::Shares => {
            let u = s.shield.as_ref().expect("shield setup");
            let mut r = req("GET", "/shares");
            r.headers = vec![
                ("x-api-key", u.api_key.clone()),
                ("x-auth-provider", "custom".into()),
                (
                    "authorization",
                    format!("Bearer {}", u.tokens[client % u.tokens.len()]),
                ),
                ("x-encryption-part", u.part.clone()),
            ];
            r
        }
        Scenario::GuardianSign => {
            let token = s.guardian.lock().expect("tokens")[client].clone();
            let mut digest = [0x11u8; 32];
            digest[..8].copy_from_slice(&seq.to_le_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            bearer_post(
                "/guardian/sign",
                &token,
                &json!({"raw_data": hex, "address_index": 0}),
            )
        }
    };
    let s = side.clone();
    let observe = move |client: usize, _status: u16, body: &[u8]| {
        if scenario == Scenario::GuardianSign
            && let Ok(v) = serde_json::from_slice::<Value>(body)
            && let Some(t) = v["fresh_client_token"].as_str()
        {
            s.guardian.lock().expect("tokens")[client] = t.to_string();
        }
    };
    let expect = match scenario {
        Scenario::PutKey => 204,
        _ => 200,
    };
    // Warm-up (discarded): connections, pools, caches.
    let make = Arc::new(make);
    let observe = Arc::new(observe);
    let (m, o) = (make.clone(), observe.clone());
    load::run(
        addr,
        clients,
        Duration::from_millis(500),
        MAX_REQUESTS,
        expect,
        move |c, q| m(c, q),
        move |c, st, b| o(c, st, b),
    )
    .await;
    let cpu_before = server.cpu_secs();
    let outcome = load::run(
        addr,
        clients,
        secs,
        MAX_REQUESTS,
        expect,
        move |c, q| make(c, q),
        move |c, st, b| observe(c, st, b),
    )
    .await;
    (outcome, server.cpu_secs() - cpu_before)
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

/// `KEYWARD_BENCH_ONLY`: which scenarios (by name substring), `micro`, `start`.
struct Only(Option<Vec<String>>);

impl Only {
    fn from_env() -> Only {
        Only(std::env::var("KEYWARD_BENCH_ONLY").ok().map(|v| {
            v.split(',')
                .map(|f| f.trim().to_lowercase())
                .filter(|f| !f.is_empty())
                .collect()
        }))
    }
    fn wants(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.0
            .as_ref()
            .is_none_or(|fs| fs.iter().any(|f| name.contains(f.as_str())))
    }
}

/// Runs a crypto loop `n` times inside wasm (the bench guest): the elapsed nanoseconds it reports
/// and the loop's result.
async fn wasm_op(addr: SocketAddr, op: &str, n: u64, input: &[u8]) -> (u128, u64) {
    let mut r = req("POST", &format!("/bench/{op}?n={n}"));
    r.body = input.to_vec();
    let (status, body) = load::once(addr, r).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    let mut words = text.split_whitespace().map(|w| w.parse::<u128>().ok());
    match (words.next().flatten(), words.next().flatten()) {
        (Some(ns), Some(sink)) => (ns, u64::try_from(sink).expect("u64 result")),
        _ => panic!("bench guest answered {text:?}"),
    }
}

async fn bench() {
    let secs = Duration::from_secs(
        std::env::var("KEYWARD_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let only = Only::from_env();
    let stub = stub::start();
    let work = std::env::temp_dir().join(format!("keyward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let manifest_path = work.join("spin.toml");
    std::fs::write(&manifest_path, manifest()).expect("manifest");
    let host_state = work.join("host-state");

    let starts = start_times(&only, &host_state, &manifest_path, &stub).await;
    let host = Server::start(
        host_command(&host_state, &manifest_path),
        "keyward listening on ",
        &stub,
    );
    let native = native_server(&work.join("native-state"), &stub);
    let scenarios = scenarios(&only);
    let sides = [
        Arc::new(setup_side(host.addr, &scenarios, &stub).await),
        Arc::new(setup_side(native.addr, &scenarios, &stub).await),
    ];
    let noop = throughput_table(&host, &native, &sides, scenarios, secs).await;

    if noop.is_none() && !only.wants("start") && !only.wants("micro") {
        return finish(host, native, &work);
    }
    println!("\nmicrobenchmarks\n");
    println!("| what | keyward (wasm) | native | wasm speed / native |");
    println!("|---|---:|---:|---:|");
    if let Some(noop) = noop {
        instantiation_rows(noop, &host_state);
    }
    if let (true, [cold, warm]) = (only.wants("start"), &starts[..]) {
        println!(
            "| host start → first served request, cold cache / warm cache | {:.0} ms / {:.0} ms | | |",
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );
    }
    if only.wants("micro") {
        crypto_rows(host.addr).await;
    }
    finish(host, native, &work);
}

/// Host start to first served request: cold (compiles into the cache), then warm. The cold
/// start always runs, in its own process, so the benchmarked host loads compiled components
/// from the cache (its peak RSS then holds no compilation).
async fn start_times(only: &Only, state: &Path, manifest: &Path, stub: &str) -> Vec<Duration> {
    let mut starts = Vec::new();
    let runs = if only.wants("start") { 2 } else { 1 };
    for _ in 0..runs {
        let t = Instant::now();
        let h = Server::start(host_command(state, manifest), "keyward listening on ", stub);
        let (status, _) = load::once(h.addr, req("GET", "/bench/noop")).await;
        assert_eq!(status, 200);
        starts.push(t.elapsed());
    }
    starts
}

/// The native baseline, a child process of this binary.
fn native_server(state: &Path, stub: &str) -> Server {
    let me = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(me);
    cmd.arg("__native-server")
        .arg(state)
        // Its errors (if any) go to a file beside the host's log, not into the table.
        .stderr(Stdio::from(
            std::fs::File::create(state.with_extension("log")).expect("log file"),
        ));
    Server::start(cmd, "native listening on ", stub)
}

/// The scenarios `KEYWARD_BENCH_ONLY` asks for, with their client counts.
fn scenarios(only: &Only) -> Vec<(Scenario, usize)> {
    [
        (Scenario::GetKey, WRITE_CLIENTS),
        (Scenario::GetKey, 1),
        (Scenario::PutKey, WRITE_CLIENTS),
        (Scenario::Init, WRITE_CLIENTS),
        (Scenario::Shares, WRITE_CLIENTS),
        (Scenario::GuardianSign, WRITE_CLIENTS),
        (Scenario::Noop, 1),
    ]
    .into_iter()
    .filter(|(s, c)| only.wants(&s.name(*c)))
    .collect()
}

/// One side's users, tokens and keys, for the scenarios that need them.
async fn setup_side(addr: SocketAddr, scenarios: &[(Scenario, usize)], stub: &str) -> Side {
    let uses = |f: &dyn Fn(Scenario) -> bool| scenarios.iter().any(|(s, _)| f(*s));
    let keyservice = if uses(&|s| matches!(s, Scenario::GetKey | Scenario::PutKey)) {
        setup_keyservice(addr).await
    } else {
        Vec::new()
    };
    let shield = if uses(&|s| s == Scenario::Shares) {
        Some(setup_shield(addr, stub).await)
    } else {
        None
    };
    let guardian = if uses(&|s| s == Scenario::GuardianSign) {
        setup_guardian(addr).await
    } else {
        Vec::new()
    };
    Side {
        keyservice,
        shield,
        guardian: Mutex::new(guardian),
    }
}

/// Drives every scenario on both sides and prints the table; the minimal route's p50 on each
/// side, when it ran.
async fn throughput_table(
    host: &Server,
    native: &Server,
    sides: &[Arc<Side>; 2],
    scenarios: Vec<(Scenario, usize)>,
    secs: Duration,
) -> Option<(f64, f64)> {
    println!(
        "\nkeyward vs native baseline, {}s per scenario and side, closed loop, HTTP/1.1 keep-alive, loopback, SQLite WAL synchronous={} on both sides\n",
        secs.as_secs(),
        native::sqlite_synchronous()
    );
    println!(
        "| scenario | side | req/s | p50 | p99 | errors | server CPU / request | ratio keyward/native (req/s) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut noop = None;
    for (scenario, clients) in scenarios {
        let (k, k_cpu) = drive(host, &sides[0], scenario, clients, secs).await;
        let (n, n_cpu) = drive(native, &sides[1], scenario, clients, secs).await;
        let name = scenario.name(clients);
        for (side, o, cpu) in [("keyward", &k, k_cpu), ("native", &n, n_cpu)] {
            let ratio = if side == "keyward" {
                format!("{:.2}×", k.rps() / n.rps())
            } else {
                String::new()
            };
            let cpu_per_request_us = cpu * 1e6 / (o.ok + o.errors).max(1) as f64;
            println!(
                "| {name} | {side} | {:.0} | {} | {} | {} | {cpu_per_request_us:.0} µs | {ratio} |",
                o.rps(),
                ms(o.percentile_us(0.5)),
                ms(o.percentile_us(0.99)),
                o.errors
            );
        }
        if scenario == Scenario::Noop {
            noop = Some((k.percentile_us(0.5), n.percentile_us(0.5)));
        }
    }
    println!(
        "\npeak RSS (VmHWM, whole run): keyward {:.1} MiB, native {:.1} MiB",
        host.peak_rss_mib(),
        native.peak_rss_mib()
    );
    noop
}

/// The minimal route's cost over native, and each component's instantiation p50 from the
/// host's log.
fn instantiation_rows(noop: (f64, f64), host_state: &Path) {
    println!(
        "| minimal route p50 at concurrency 1 (instantiate + call + HTTP) | {:.1} µs | {:.1} µs | difference {:.1} µs per request |",
        noop.0,
        noop.1,
        noop.0 - noop.1
    );
    for (component, label) in [
        ("bench-guest", "minimal guest"),
        ("keyservice-key", "keyservice-key"),
        ("shield-shares", "shield-shares"),
        ("guardian-sign", "guardian-sign"),
    ] {
        if let Some((p50, n)) = instantiate_p50(&host_state.with_extension("log"), component) {
            println!(
                "| per-request instantiation ({label}: store + instance from `InstancePre`), p50 of {n} requests (host log `instantiate_us`) | {p50:.1} µs | | |"
            );
        }
    }
}

/// The crypto the services run, inside wasm (the bench guest) and natively.
async fn crypto_rows(addr: SocketAddr) {
    // The stored account key signs exactly what the mnemonic path signs (same key, same digest).
    assert_eq!(
        micro::run("account-sign", 1, &[]).1,
        micro::run("hd-sign", 1, &[]).1,
        "guardian's account-key path and mnemonic path sign differently"
    );
    for (op, n, label) in [
        (
            "secp256k1",
            500u64,
            "secp256k1 sign (RFC 6979, recoverable), per op in a loop",
        ),
        (
            "secp256k1",
            1,
            "secp256k1 sign, one per request (fresh instance: key parse + sign)",
        ),
        (
            "account-sign",
            1,
            "guardian sign's crypto, one per request (open the sealed account key m/44'/60'/0'/0 + one BIP32 child + sign)",
        ),
        (
            "hd-sign",
            1,
            "guardian key creation / first use, one per request (BIP39 seed + BIP32 m/44'/60'/0'/0/0 + sign; sign's crypto before the account key was stored)",
        ),
        (
            "aes-gcm",
            20_000,
            "AES-256-GCM envelope seal + open, 32 B, per op",
        ),
        ("hmac-sha512", 50_000, "HMAC-SHA512, 200 B, per op"),
        (
            "audit-link",
            20_000,
            "audit record link (chain key from master_key + HMAC-SHA256 over the record), per record",
        ),
        (
            "jwt-rs256",
            1,
            "custom-provider JWT check, one per request (JWKS parse + RS256 verify, 2048-bit)",
        ),
    ] {
        // Best of 3 for the loops; best of 20 for the single operations (each a fresh instance).
        let tries = if n == 1 { 20 } else { 3 };
        let input = micro::input(op);
        let mut wasm_best = u128::MAX;
        let mut native_best = u128::MAX;
        for _ in 0..tries {
            let (w, wasm_sink) = wasm_op(addr, op, n, &input).await;
            let (nat, native_sink) = micro::run(op, n, &input);
            // Same inputs, same answer: the wasm build computes what the native one does.
            assert_eq!(
                wasm_sink, native_sink,
                "{op}: wasm and native results differ"
            );
            wasm_best = wasm_best.min(w);
            native_best = native_best.min(nat);
        }
        let per = |t: u128| t as f64 / n as f64 / 1000.0;
        println!(
            "| {label} | {:.2} µs | {:.2} µs | {:.2}× |",
            per(wasm_best),
            per(native_best),
            native_best as f64 / wasm_best as f64
        );
    }
}

fn finish(host: Server, native: Server, work: &Path) {
    drop(host);
    drop(native);
    let _ = std::fs::remove_dir_all(work);
}
