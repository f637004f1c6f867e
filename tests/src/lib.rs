//! Harness for the end-to-end tests: builds nothing itself (`cargo xtask test` builds the host
//! and the wasm first), starts `keyward serve` on 127.0.0.1:0 with a manifest, and offers a small
//! HTTP client that never treats 4xx/5xx as errors, since those are what many tests assert.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use serde_json::{Value, json};

pub mod db;
pub mod guardian;
pub mod keyservice;
pub mod loopback;
pub mod shield;

pub use loopback_stub::{Stub, StubReply, StubRequest, repo_root, target_dir};

/// A component built by `cargo xtask build-wasm`.
pub fn wasm(crate_name: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask test` (it builds the components)",
        path.display()
    );
    path
}

/// The product `spin.toml` with each `source` made absolute (so it works from a temporary
/// directory and with any `CARGO_TARGET_DIR`): the tests run the real grants and routes.
pub fn product_manifest() -> String {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("read spin.toml");
    text.lines()
        .map(|line| {
            match line
                .strip_prefix("source = \"target/wasm32-wasip2/release/")
                .and_then(|r| r.strip_suffix(".wasm\""))
            {
                Some(name) => format!("source = \"{}\"", wasm(name).display()),
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An application of the test-only conformance guest: `[application]` named `app`, then `extra`
/// (e.g. `[variables]`), one trigger per `routes` entry (a path, or `{ private = true }`, and the
/// component), and the guest mounted once per `components` entry (its id and the lines of its
/// section after `source`: grants, variables).
pub fn guest_manifest(
    app: &str,
    extra: &str,
    routes: &[(&str, &str)],
    components: &[(&str, &str)],
) -> String {
    let source = wasm("conformance-guest");
    let mut m = format!("spin_manifest_version = 2\n[application]\nname = \"{app}\"\n{extra}\n");
    for (route, component) in routes {
        let route = if route.starts_with('{') {
            (*route).to_owned()
        } else {
            format!("\"{route}\"")
        };
        m.push_str(&format!(
            "[[trigger.http]]\nroute = {route}\ncomponent = \"{component}\"\n"
        ));
    }
    for (id, section) in components {
        m.push_str(&format!(
            "\n[component.{id}]\nsource = \"{}\"\n{section}\n",
            source.display()
        ));
    }
    m
}

/// One value for the tests running concurrently (a host, say): made on first use, dropped when
/// the last test holding it drops it (`slot` keeps only a `Weak`, so nothing outlives the test
/// process).
pub fn shared<T>(slot: &Mutex<Weak<T>>, make: impl FnOnce() -> T) -> Arc<T> {
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(value) = slot.upgrade() {
        return value;
    }
    let value = Arc::new(make());
    *slot = Arc::downgrade(&value);
    value
}

/// The fixed test master key (the test kit's, as every harness uses).
pub const TEST_MASTER_KEY: &str = keyward_test_kit::secrets::MASTER_KEY;

/// The host binary, built by `cargo xtask test` in the test profile.
pub fn keyward_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYWARD_BIN") {
        return PathBuf::from(p);
    }
    let path = target_dir().join("debug/keyward");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask test`",
        path.display()
    );
    path
}

/// Which storage the end-to-end suite runs on. `KEYWARD_TEST_BACKEND=scale-out` (set by
/// `cargo xtask test` for its second pass) maps every SQLite label of the manifest to its own
/// PostgreSQL database and every key-value label to Redis, at `KEYWARD_TEST_PG_URL` and
/// `KEYWARD_TEST_REDIS_URL`. The same tests then assert the same behaviour on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    ScaleOut { pg_url: String, redis_url: String },
}

impl Backend {
    pub fn from_env() -> Backend {
        match std::env::var("KEYWARD_TEST_BACKEND").as_deref() {
            Ok("scale-out") => Backend::ScaleOut {
                pg_url: std::env::var("KEYWARD_TEST_PG_URL")
                    .expect("KEYWARD_TEST_BACKEND=scale-out needs KEYWARD_TEST_PG_URL"),
                redis_url: std::env::var("KEYWARD_TEST_REDIS_URL")
                    .expect("KEYWARD_TEST_BACKEND=scale-out needs KEYWARD_TEST_REDIS_URL"),
            },
            _ => Backend::Embedded,
        }
    }

    /// A runtime config giving each label of `manifest` a scale-out backend. Databases are named
    /// after the state directory, so a restart with the same state directory (or a second host
    /// sharing it) finds the same data, and every other host start gets fresh, empty ones.
    /// Labels the test configures itself in `own` are left to it.
    pub fn runtime_config(
        &self,
        manifest: &str,
        own: &str,
        state_dir: &Path,
    ) -> Result<String, String> {
        let Backend::ScaleOut { pg_url, redis_url } = self else {
            return Ok(own.to_string());
        };
        let scope = scope(state_dir);
        let mut out = own.to_string();
        for label in labels(manifest, "sqlite_databases") {
            if own.contains(&format!("[sqlite_database.{label}]")) {
                continue;
            }
            let db = database_name(state_dir, &label);
            create_database(pg_url, &db)?;
            let url = database_url_named(pg_url, &db)?;
            out.push_str(&format!(
                "\n[sqlite_database.{label}]\ntype = \"postgres\"\nurl = \"{url}\"\n"
            ));
        }
        for label in labels(manifest, "key_value_stores") {
            if own.contains(&format!("[key_value_store.{label}]")) {
                continue;
            }
            out.push_str(&format!(
                "\n[key_value_store.{label}]\ntype = \"redis\"\nurl = \"{redis_url}\"\nprefix = \"kw:{scope}:\"\n"
            ));
        }
        Ok(out)
    }

    /// The PostgreSQL URL of `label`'s database for hosts started with `state_dir` on the
    /// scale-out pass; `None` on the embedded pass (the database is `<state dir>/<label>.db`).
    pub fn database_url(&self, state_dir: &Path, label: &str) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::ScaleOut { pg_url, .. } => {
                database_url_named(pg_url, &database_name(state_dir, label)).ok()
            }
        }
    }
}

/// A runtime config that keeps every label of `manifest` on the embedded backends, on either
/// pass: for tests about the embedded store itself (its files, its disk).
pub fn embedded_runtime_config(manifest: &str) -> String {
    let mut out = String::new();
    for label in labels(manifest, "sqlite_databases") {
        out.push_str(&format!("[sqlite_database.{label}]\ntype = \"spin\"\n"));
    }
    for label in labels(manifest, "key_value_stores") {
        out.push_str(&format!("[key_value_store.{label}]\ntype = \"spin\"\n"));
    }
    out
}

/// What names a state directory's databases and Redis keys on the scale-out pass.
pub(crate) fn scope(state_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state_dir.hash(&mut h);
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

fn database_name(state_dir: &Path, label: &str) -> String {
    format!("kw_{}_{}", scope(state_dir), label.replace('-', "_"))
}

pub(crate) fn database_url_named(pg_url: &str, db: &str) -> Result<String, String> {
    match pg_url.rsplit_once('/') {
        Some((server, _)) => Ok(format!("{server}/{db}")),
        None => Err(format!("bad KEYWARD_TEST_PG_URL {pg_url}")),
    }
}

/// Every label named in `key = [...]` lines of a manifest.
fn labels(manifest: &str, key: &str) -> Vec<String> {
    let mut out: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .flat_map(|list| {
            list.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn create_database(pg_url: &str, name: &str) -> Result<(), String> {
    // PostgreSQL refuses a CREATE DATABASE now and then while another one copies the template
    // ("source database is being accessed by other users"), and a burst of hosts can briefly
    // use every connection: both pass, so a start tries again for a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match create_database_once(pg_url, name) {
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("creating database {name} again: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn create_database_once(pg_url: &str, name: &str) -> Result<(), String> {
    let mut client = postgres::Client::connect(pg_url, postgres::NoTls)
        .map_err(|e| format!("cannot reach PostgreSQL at KEYWARD_TEST_PG_URL: {e}"))?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| e.to_string())?
        .is_some();
    if !exists {
        // Two hosts sharing a state directory may race to create it: losing that race is fine.
        if let Err(e) = client.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            && e.code() != Some(&postgres::error::SqlState::DUPLICATE_DATABASE)
        {
            return Err(e.to_string());
        }
    }
    Ok(())
}

pub use keyward_test_kit::race;

/// The backend set of this pass, as the reliability figures name it.
pub fn backend_name() -> &'static str {
    match Backend::from_env() {
        Backend::Embedded => "embedded",
        Backend::ScaleOut { .. } => "PostgreSQL + Redis",
    }
}

/// One row of the fault-injection table (docs/RELIABILITY.md, "Fault injection"), in its
/// columns; `writes` is (acknowledged, found afterwards) for faults under a write load.
pub struct FaultRow<'a> {
    pub fault: &'a str,
    pub backend: &'a str,
    pub injected: usize,
    pub during: &'a str,
    pub writes: Option<(usize, usize)>,
    pub outcome: &'a str,
}

/// Records `row` as `name` in the fault-injection table.
pub fn record_fault_row(name: &str, row: &FaultRow<'_>) {
    let (acknowledged, found) = row
        .writes
        .map_or(("—".to_owned(), "—".to_owned()), |(a, f)| {
            (a.to_string(), f.to_string())
        });
    record_figures(
        "faults",
        name,
        &format!(
            "| {} | {} | {} | {} | {acknowledged} | {found} | {} |",
            row.fault, row.backend, row.injected, row.during, row.outcome
        ),
    );
}

/// Records a fault without writes for this pass's backend set: `fault`, how many were
/// injected, what the requests during it got, and the outcome.
pub fn record_fault(name: &str, fault: &str, injected: usize, during: &str, outcome: &str) {
    let backend = backend_name();
    let pass = if backend == "embedded" {
        "embedded"
    } else {
        "scale-out"
    };
    record_fault_row(
        &format!("{name}-{pass}"),
        &FaultRow {
            fault,
            backend,
            injected,
            during,
            writes: None,
            outcome,
        },
    );
}

/// Records one row of a reliability campaign's figures
/// (docs/RELIABILITY.md, "How the figures are written"): `cargo xtask test` gathers the rows
/// of its run into that page. `row` is one Markdown table row; `name` orders the rows and
/// makes a rerun replace its own.
pub fn record_figures(campaign: &str, name: &str, row: &str) {
    let dir = target_dir().join("reliability").join(campaign);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{name}.md")), format!("{row}\n")));
    if let Err(e) = written {
        eprintln!("cannot record the {campaign} figures: {e}");
    }
}

/// Resident memory of a process in MiB (`VmRSS`, or `VmHWM` for the peak).
pub fn memory_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .expect("memory field")
}

/// The whole product: keyservice (with its operator token), shield (with the Openfort stand-in)
/// and guardian (Okta login against the stub on port `okta`, exports allowed) on one host.
pub fn product_host(okta: u16) -> HostBuilder {
    guardian::with_okta(shield::builder(), okta)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", keyservice::ADMIN_TOKEN)
        .env("SPIN_VARIABLE_ALLOW_EXPORT", "true")
}

/// A running host. Killed when dropped.
pub struct Host {
    pub child: Child,
    pub base: String,
    pub state_dir: PathBuf,
    /// What the host was started from, so that `keyward audit` can read the same databases.
    sources: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    log: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

pub struct HostBuilder {
    manifest: String,
    /// A command the host runs under (e.g. `prlimit --nofile=…`), its arguments first.
    wrapper: Vec<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    state_dir: Option<PathBuf>,
    runtime_config: Option<String>,
    /// `--allow-outbound-private` for the stand-ins on 127.0.0.1 (docs/OPERATIONS.md,
    /// "Outbound safety"); `None`: the host refuses loopback as in production.
    outbound_allowance: Option<String>,
}

/// What every test host may reach beyond public addresses: the loopback stand-ins for Okta,
/// OIDC, Openfort, JWKS and Vault.
pub const LOOPBACK_ALLOWANCE: &str = "127.0.0.0/8,::1";

impl HostBuilder {
    pub fn new(manifest: impl Into<String>) -> Self {
        HostBuilder {
            manifest: manifest.into(),
            wrapper: Vec::new(),
            env: Vec::new(),
            args: Vec::new(),
            state_dir: None,
            runtime_config: None,
            outbound_allowance: Some(LOOPBACK_ALLOWANCE.into()),
        }
    }
    /// The host's `--allow-outbound-private` entries (comma-separated) instead of
    /// [`LOOPBACK_ALLOWANCE`]; `None` allows nothing beyond public addresses.
    pub fn outbound_allowance(mut self, entries: Option<&str>) -> Self {
        self.outbound_allowance = entries.map(str::to_owned);
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Sets application variables as `SPIN_VARIABLE_<NAME>` (names as in `spin.toml`).
    pub fn vars(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |b, (name, value)| {
            b.env(
                &format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            )
        })
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    /// Runs the host under `command` (which must exec its trailing arguments).
    pub fn wrapped_in(mut self, command: &[&str]) -> Self {
        self.wrapper = command.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Reuse a state directory (for restart tests).
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }
    pub fn runtime_config(mut self, text: &str) -> Self {
        self.runtime_config = Some(text.into());
        self
    }

    /// Starts the host; fails with its stderr if it does not come up.
    pub fn start(self) -> Host {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a host that must refuse to start; returns why it refused (its stderr).
    pub fn start_refused(self, what: &str) -> String {
        match self.try_start() {
            Ok(_) => panic!("keyward started {what}"),
            Err(e) => e,
        }
    }

    pub fn try_start(self) -> Result<Host, String> {
        // The first host of a test process starts alone, so that it fills the shared
        // compiled-component cache instead of every concurrent test compiling every component.
        static WARMED: Mutex<bool> = Mutex::new(false);
        let mut warmed = WARMED.lock().unwrap_or_else(|e| e.into_inner());
        if *warmed {
            drop(warmed);
            return self.start_unserialized();
        }
        let result = self.start_unserialized();
        *warmed = result.is_ok();
        result
    }

    fn start_unserialized(self) -> Result<Host, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let manifest = dir.path().join("spin.toml");
        std::fs::write(&manifest, &self.manifest).map_err(|e| e.to_string())?;
        let state_dir = self
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(keyward_bin());
                c
            }
            None => Command::new(keyward_bin()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--state-dir")
            .arg(&state_dir)
            .args(&self.args)
            .env_remove("KEYWARD_LOG_FORMAT")
            .env_remove("KEYWARD_ALLOW_OUTBOUND_PRIVATE")
            // One compiled-component cache for every host the tests start (safe: entries are
            // keyed by wasm hash and engine configuration); a test may pass its own --cache-dir.
            .env("KEYWARD_CACHE_DIR", target_dir().join("keyward-test-cache"))
            // Its entries are authenticated under one key, kept beside it (outside it).
            .env(
                "KEYWARD_CACHE_KEY_FILE",
                target_dir().join("keyward-test-cache.key"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let runtime_config = match Backend::from_env() {
            Backend::Embedded => self.runtime_config.clone(),
            scale_out => Some(scale_out.runtime_config(
                &self.manifest,
                self.runtime_config.as_deref().unwrap_or_default(),
                &state_dir,
            )?),
        };
        let mut sources: Vec<std::ffi::OsString> = vec![
            "--manifest".into(),
            manifest.clone().into(),
            "--state-dir".into(),
            state_dir.clone().into(),
        ];
        if let Some(rc) = &runtime_config {
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, rc).map_err(|e| e.to_string())?;
            cmd.arg("--runtime-config").arg(&path);
            sources.extend(["--runtime-config".into(), path.into()]);
        }
        if let Some(entries) = &self.outbound_allowance {
            cmd.env("KEYWARD_ALLOW_OUTBOUND_PRIVATE", entries);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start keyward: {e}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("KEYWARD_TEST_ECHO").is_some() {
                    eprintln!("[host] {line}");
                }
                if let Ok(mut l) = log_writer.lock() {
                    l.push(line);
                }
            }
        });
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("keyward listening on ") {
                        break addr.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                    return Err(format!("keyward did not start:\n{log}"));
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Host {
            child,
            base,
            state_dir,
            sources,
            env: self.env,
            log,
            _dir: Some(dir),
        })
    }
}

impl Host {
    /// `keyward audit <args>` over this host's manifest, runtime config, state directory and
    /// variables: its exit status and its standard output (and its standard error, if it failed).
    pub fn audit(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["audit"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `keyward <args>` (a command that reads the deployment's data: `audit`, `rewrap`) over this
    /// host's manifest, runtime config, state directory and variables, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(keyward_bin());
        cmd.args(args)
            .args(&self.sources)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// [`Host::command`] run to its end: whether it succeeded, and its standard output (and its
    /// standard error, if it failed).
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().expect("run keyward");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "keyward {args:?} failed: {stderr}"
        );
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            text.push_str(&stderr);
        }
        (out.status.success(), text)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The first log line that satisfies `wanted`, waiting a few seconds for it: the log is read
    /// from the host's stderr by another thread, so a line written just now may not be in it yet.
    pub fn log_line(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self.log_lines().into_iter().find(|l| wanted(l));
            if found.is_some() || std::time::Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops the host, keeping its temporary directory alive in the returned value.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> Resp {
        request("GET", &self.url(path), &[], None)
    }
    pub fn post(&self, path: &str, body: &[u8]) -> Resp {
        request("POST", &self.url(path), &[], Some(body))
    }
    pub fn put(&self, path: &str, body: &[u8]) -> Resp {
        request("PUT", &self.url(path), &[], Some(body))
    }
    pub fn delete(&self, path: &str) -> Resp {
        request("DELETE", &self.url(path), &[], None)
    }
    pub fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        request(method, &self.url(path), headers, body)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTP driver: the test kit's scenarios, spoken over HTTP on 127.0.0.1 to this host.
impl keyward_test_kit::Driver for Host {
    fn send(&self, req: guest_kit::Request) -> Resp {
        let headers: Vec<(&str, &[u8])> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        try_request_bytes(
            &req.method,
            &self.url(&req.path_and_query),
            &headers,
            Some(&req.body),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn now_ms(&self) -> i64 {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        i64::try_from(since.as_millis()).expect("millis")
    }

    fn sql(&self, label: &str, sql: &str, params: &[guest_kit::Value]) -> guest_kit::Rows {
        db::ServiceDb::open(&self.state_dir, label).guest_rows(sql, params)
    }

    fn at_rest(&self, label: &str) -> Vec<u8> {
        let mut out = db::database_bytes(&self.state_dir, label);
        out.extend(db::at_rest(&self.state_dir));
        out
    }
}

/// A response, fully read: the test kit's one response wrapper.
pub use keyward_test_kit::Reply as Resp;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .allow_non_standard_methods(true)
        .build()
        .new_agent()
}

pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    try_request(method, url, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`request`], but a transport failure (connection refused or reset, e.g. while a host is
/// being killed) is an `Err` instead of a panic.
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Resp, String> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    try_request_bytes(method, url, &headers, body)
}

/// [`try_request`] with header values as bytes (which need not be UTF-8).
pub fn try_request_bytes(
    method: &str,
    url: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Result<Resp, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        let value = ureq::http::HeaderValue::from_bytes(v).map_err(|e| format!("{k}: {e}"))?;
        builder = builder.header(*k, value);
    }
    let req = builder
        .body(body.map(<[u8]>::to_vec).unwrap_or_default())
        .expect("valid request");
    let resp = agent()
        .run(req)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .into_body()
        .read_to_vec()
        .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// `node` or `npm`, failing the test with a clear message when it is not on PATH (the upstream
/// client checks need Node.js 18+ and npm).
pub fn node_tool(name: &str) -> Command {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not on PATH: the npm client checks need Node.js 18+ and npm \
         (install them, or run the other tests with `--skip npm_`)"
    );
    Command::new(name)
}

/// A port on 127.0.0.1 that was free a moment ago, for a server a test starts later (a page
/// server, an identity-provider stand-in) whose address must be configured first.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs `cmd` to its end and returns its standard output; fails the test with both outputs
/// when it does not succeed. `what` names it in that failure.
pub fn run_checked(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The TypeScript SDK's package directory (`clients/js`).
pub fn js_client_dir() -> PathBuf {
    repo_root().join("clients/js")
}

/// Installs the SDK's locked dependencies when missing (`npm ci`) and builds it, once per test
/// process.
pub fn build_js_client() {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if *built {
        return;
    }
    let dir = js_client_dir();
    if !dir.join("node_modules/typescript").exists() {
        run_checked(
            node_tool("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci",
        );
    }
    run_checked(
        node_tool("npm").args(["run", "build"]).current_dir(&dir),
        "the SDK's build",
    );
    *built = true;
}

/// Runs the upstream-client script `tests/npm/<script>` with `env` under `node`; it must exit 0
/// and end with a JSON summary of `steps` steps, all passed.
pub fn run_npm_client(script: &str, env: &[(&str, &str)], steps: usize) {
    let script = repo_root().join("tests/npm").join(script);
    let out = node_tool("node")
        .arg(&script)
        .envs(env.iter().copied())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {} failed:\n{stdout}{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["ok"], true, "{stdout}");
    assert_eq!(
        summary["steps"].as_array().map(Vec::len),
        Some(steps),
        "{stdout}"
    );
}

/// Installs an npm package into a fresh temporary directory: upstream clients are fetched at
/// test time and never copied into the repository.
pub fn npm_install(package: &str) -> tempfile::TempDir {
    let prefix = tempfile::tempdir().expect("tempdir");
    let out = node_tool("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(prefix.path())
        .arg(package)
        .output()
        .expect("run npm");
    assert!(
        out.status.success(),
        "npm install {package} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    prefix
}
