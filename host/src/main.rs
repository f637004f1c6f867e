//! `keyward`: runs keyward's Spin components on-prem.
//!
//! ```text
//! keyward serve [--listen ADDR] [--manifest PATH] [--runtime-config PATH] [--state-dir DIR]
//!               [--log-format text|json] [limits…]
//! ```
//! Every flag can also be set through `KEYWARD_<FLAG>` (e.g. `KEYWARD_LISTEN`); `keyward serve
//! --help` lists them all, and docs/OPERATIONS.md explains the limits.

mod app;
mod audit;
mod audit_record;
mod capabilities;
mod databases;
mod http;
mod observability;
mod rewrap;
mod shield_import;
mod sources;
mod wasm;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use embedded_sqlite::Synchronous;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "keyward: key custody served from sandboxed WebAssembly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application described by a Spin manifest over HTTP.
    Serve(ServeArgs),
    /// Check or export the audit trail the services keep in their databases.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Commands for the shield service's data.
    #[command(subcommand)]
    Shield(ShieldCommand),
    /// Re-seal every sealed value of every service under the current master_key, while hosts
    /// keep serving, so that master_key_previous can be emptied. Safe to rerun; exits 1 while
    /// anything remains under a previous key.
    Rewrap {
        #[command(flatten)]
        sources: sources::Sources,
        /// Rows read and re-sealed per query.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
}

#[derive(Subcommand)]
enum ShieldCommand {
    /// Import an upstream Shield deployment from its PostgreSQL database: projects with their
    /// API keys and secrets, providers, users, keychains, shares of every entropy and the stored
    /// key parts (docs/OPERATIONS.md, "Moving from upstream Shield"). Safe to rerun: it writes
    /// only what is missing. Prints a JSON line of counts last.
    Import(shield_import::ImportArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks every database's audit chain; names the first broken record and exits 1 if one
    /// was modified, removed, inserted or moved. Prints each chain's head: keep it elsewhere to
    /// detect records removed from the end later.
    Verify {
        #[command(flatten)]
        sources: audit::Sources,
    },
    /// Prints the audit records as JSON lines (one database after another, in order). Does not
    /// verify them.
    Export {
        #[command(flatten)]
        sources: audit::Sources,
        /// Only records from this time on: RFC 3339 (`2026-12-01T10:00:00Z`) or unix ms.
        #[arg(long)]
        since: Option<String>,
        /// Only records of this service (`keyservice`, `shield`, `guardian`).
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Parser)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    #[command(flatten)]
    sources: sources::Sources,
    /// Where compiled components are cached [default: `<state dir>/cache`]. Entries are keyed by
    /// the wasm's hash and the engine configuration, so one directory can serve many hosts.
    #[arg(long, env = "KEYWARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// The key that authenticates compiled-component cache entries, kept outside the cache
    /// [default: `<state dir>/cache.key`; created mode 0600]. Hosts sharing a cache share it.
    #[arg(long, env = "KEYWARD_CACHE_KEY_FILE")]
    cache_key_file: Option<PathBuf>,
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Per-request deadline in seconds; a request still running then is stopped with 504.
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT", default_value_t = 30.0)]
    request_timeout: f64,
    /// Linear-memory cap per instance in MiB; a guest that needs more fails with 500.
    #[arg(long, env = "KEYWARD_MEMORY_LIMIT", default_value_t = 128)]
    memory_limit: usize,
    /// Instances that may run at once; further requests get 503 until one finishes.
    #[arg(long, env = "KEYWARD_MAX_INSTANCES", default_value_t = 256)]
    max_instances: u32,
    /// Instances one client address (an IPv6 /64) may hold at once; further requests from it get
    /// 429 [default: a quarter of --max-instances]. 0 removes the per-peer cap (behind a proxy).
    #[arg(long, env = "KEYWARD_MAX_INSTANCES_PER_PEER")]
    max_instances_per_peer: Option<u32>,
    /// Guest linear memory all running instances may hold together, in MiB; a request whose
    /// guest needs more than is left gets 503.
    #[arg(long, env = "KEYWARD_MEMORY_BUDGET", default_value_t = 2048)]
    memory_budget: usize,
    /// On SIGTERM or SIGINT: seconds to let requests in progress finish before the host exits.
    #[arg(long, env = "KEYWARD_DRAIN_TIMEOUT", default_value_t = 30.0)]
    drain_timeout: f64,
    /// Seconds a connection may take to send a request head, from accept or from the first byte
    /// of a later request; then it is closed.
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT", default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a keep-alive connection may sit idle between requests; then it is closed.
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT", default_value_t = 30.0)]
    idle_timeout: f64,
    /// Seconds within which a request body must arrive in full; otherwise 408.
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT", default_value_t = 10.0)]
    body_timeout: f64,
    /// Largest request body in bytes, for every route; a component may declare a smaller one.
    /// Larger bodies get 413.
    #[arg(long, env = "KEYWARD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Open connections, all clients together (lowered to fit the open-files limit); further
    /// connections get 503 and are closed.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Open connections from one client address (an IPv6 /64); further ones get 429 and are
    /// closed. 0 removes the per-peer cap (behind a proxy that connects from one address).
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS_PER_PEER", default_value_t = 512)]
    max_connections_per_peer: usize,
    /// Open connections per embedded SQLite file; further users wait for one.
    #[arg(long, env = "KEYWARD_SQLITE_MAX_CONNECTIONS", default_value_t = embedded_sqlite::DEFAULT_MAX_CONNECTIONS)]
    sqlite_max_connections: usize,
    /// How far embedded SQLite commits are synced before they are acknowledged: `full` survives
    /// power loss; `normal` survives a process crash (kill -9) and is several times faster for
    /// writes.
    #[arg(long, env = "KEYWARD_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    sqlite_synchronous: Synchronous,
    /// Whether writers to one embedded SQLite file share commits (one sync for every write
    /// committed at about the same time; docs/platform.md, "Design: group commit"). A write is
    /// acknowledged only once durable either way.
    #[arg(long, env = "KEYWARD_SQLITE_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    sqlite_group_commit: bool,
    /// Serve Prometheus metrics at GET /metrics on this separate address (port 0 picks a free
    /// port; the chosen address is printed). Off when not set.
    #[arg(long, env = "KEYWARD_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// A non-public destination guests' outbound requests may reach (loopback, private,
    /// link-local and other special addresses are refused otherwise): an address block
    /// (`10.0.0.0/8`), an address, `address:port` or `name:port`. Repeatable; the environment
    /// variable takes a comma-separated list.
    #[arg(
        long,
        env = "KEYWARD_ALLOW_OUTBOUND_PRIVATE",
        value_delimiter = ',',
        value_name = "CIDR|ADDR[:PORT]|NAME:PORT"
    )]
    allow_outbound_private: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> Result<()> {
    // wasmtime builds an error value while tearing down every component store, and error values
    // capture a stack backtrace when backtraces are on: with RUST_BACKTRACE=1 that cost about
    // 0.1 ms per request (docs/PERFORMANCE.md). RUST_LIB_BACKTRACE=0 turns off backtraces in
    // error values only; panics still print theirs as RUST_BACKTRACE asks. An explicit
    // RUST_LIB_BACKTRACE is respected.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: first statement of `main`, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(args))
        }
        Command::Rewrap { sources, batch } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut out = std::io::stdout().lock();
            if !rt.block_on(rewrap::run(&sources, batch, &mut out))? {
                out.flush()?;
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Shield(ShieldCommand::Import(args)) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut out = std::io::stdout().lock();
            rt.block_on(shield_import::run(&args, &mut out))
        }
        Command::Audit(command) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(run_audit(command))
        }
    }
}

async fn run_audit(command: AuditCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Verify { sources } => {
            if !audit::verify(&sources, &mut out).await? {
                out.flush()?;
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Export {
            sources,
            since,
            service,
        } => {
            let since = since.as_deref().map(audit::parse_since).transpose()?;
            audit::export(&sources, since, service.as_deref(), &mut out).await
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    // Colours only for a terminal: a log file or a journal would get raw escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// A positive, finite number of seconds from a flag.
fn seconds(flag: &str, value: f64) -> Result<Duration> {
    if !(value > 0.0 && value.is_finite()) {
        anyhow::bail!("{flag} must be a positive number of seconds");
    }
    Duration::try_from_secs_f64(value).map_err(|_| anyhow::anyhow!("{flag} is out of range"))
}

/// Raises the soft open-files limit to the hard one, as servers do: the default soft limit
/// (often 1,024) is far below what a host holding thousands of connections needs. Returns the
/// limit in force.
fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!("cannot raise the open-files limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

async fn serve(args: ServeArgs) -> Result<()> {
    let request_timeout = seconds("--request-timeout", args.request_timeout)?;
    let drain_timeout = seconds("--drain-timeout", args.drain_timeout)?;
    let front_door = http::front_door::FrontDoorLimits {
        header_timeout: seconds("--header-timeout", args.header_timeout)?,
        idle_timeout: seconds("--idle-timeout", args.idle_timeout)?,
        body_timeout: seconds("--body-timeout", args.body_timeout)?,
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections.max(1),
        max_connections_per_peer: args.max_connections_per_peer,
        max_instances_per_peer: args
            .max_instances_per_peer
            .unwrap_or((args.max_instances / 4).max(1)) as usize,
    };
    let outbound_addresses = Arc::new(capabilities::outbound_http::address::AddressPolicy::new(
        args.allow_outbound_private
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                capabilities::outbound_http::address::Allowance::parse(e)
                    .context("--allow-outbound-private")
            })
            .collect::<Result<Vec<_>>>()?,
    ));
    let open_files_limit = raise_open_files_limit();
    let (app, runtime_config, state_dir) = args.sources.load().await?;
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let limits = wasm::engine::ExecutionLimits {
        request_timeout,
        memory_limit_bytes: args.memory_limit.saturating_mul(1024 * 1024),
        max_instances: args.max_instances.max(1),
        memory_budget_bytes: args.memory_budget.saturating_mul(1024 * 1024),
    };
    let started = std::time::Instant::now();
    let cache_dir = args.cache_dir.unwrap_or_else(|| state_dir.join("cache"));
    let cache_key_file = args
        .cache_key_file
        .unwrap_or_else(|| state_dir.join("cache.key"));
    let cache = wasm::compile_cache::CompileCache::open(&cache_dir, &cache_key_file)?;
    let runtime = app::build(
        &app,
        &runtime_config,
        &state_dir,
        &cache,
        app::Settings {
            limits,
            front_door,
            sqlite_synchronous: args.sqlite_synchronous,
            sqlite_max_connections: args.sqlite_max_connections,
            sqlite_group_commit: args.sqlite_group_commit,
            open_files_limit,
            outbound_addresses,
        },
    )?;
    let ticker = wasm::engine::EpochTicker::start(runtime.engine.clone())?;
    // Spans are exported only when the standard OTLP variables name an endpoint.
    if let Some(endpoint) =
        observability::trace::start_exporting(tokio::runtime::Handle::current())?
    {
        tracing::info!(endpoint = %endpoint, "exporting spans over OTLP/HTTP");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    warn_of_shadowed_routes(&runtime.router);
    let metrics = match &args.metrics_listen {
        Some(at) => {
            let metrics_listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen for metrics on {at}"))?;
            let metrics = observability::metrics::install(runtime.router.routes());
            Some((metrics_listener, metrics))
        }
        None => None,
    };
    tracing::info!(
        app = %app.name,
        components = runtime.components.len(),
        state_dir = %state_dir.display(),
        max_connections = runtime.front_door.max_connections,
        open_files_limit,
        startup_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    let runtime = Arc::new(runtime);
    let mut stdout = std::io::stdout();
    let metrics_server = match metrics {
        Some((metrics_listener, metrics)) => {
            let metrics_addr = metrics_listener.local_addr()?;
            tracing::info!(address = %metrics_addr, "metrics at /metrics");
            // Printed before the main listener's line, which tells a waiting script the host is up.
            writeln!(stdout, "keyward metrics on http://{metrics_addr}/metrics")?;
            Some(tokio::spawn(observability::metrics_server::serve(
                runtime.clone(),
                metrics,
                metrics_listener,
            )))
        }
        None => None,
    };
    // Scripts and tests read the address from this line (it matters with `--listen ...:0`).
    writeln!(stdout, "keyward listening on http://{addr}")?;
    stdout.flush()?;
    http::server::serve(runtime, listener, stop_requested()?, drain_timeout).await?;
    if let Some(task) = metrics_server {
        task.abort();
    }
    observability::trace::stop_exporting(Duration::from_secs(5)).await;
    drop(ticker);
    tracing::info!("stopped");
    Ok(())
}

/// `/livez` and `/readyz` are the host's own (docs/OPERATIONS.md, "Health"): a manifest route
/// that would match them never sees those two paths, which the operator should know.
fn warn_of_shadowed_routes(router: &http::router::Router) {
    use observability::health::{LIVEZ, READYZ};
    for path in [LIVEZ, READYZ] {
        if let Some(m) = router.route(path) {
            tracing::warn!(
                "route `{}` of component `{}` matches {path}, which the host answers itself",
                m.raw_route,
                m.component
            );
        }
    }
}

/// Completes on SIGTERM (service managers, container runtimes) or SIGINT (ctrl-c).
fn stop_requested() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("{name} received: shutting down");
    })
}
