//! `keyward`: runs keyward's Spin components on-prem.
//!
//! ```text
//! keyward serve [--listen ADDR] [--manifest PATH] [--runtime-config PATH] [--state-dir DIR]
//!               [--log-format text|json]
//! ```
//! Every flag can also be set through `KEYWARD_<FLAG>` (e.g. `KEYWARD_LISTEN`).

mod app;
mod instance;
mod manifest;
mod outbound;
mod router;
mod runtime_config;
mod server;
mod spin_interfaces;
mod storage;
mod variables;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use storage::sqlite_pool::Synchronous;

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
}

#[derive(Parser)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    /// The Spin manifest (spin.toml, manifest version 2).
    #[arg(long, env = "KEYWARD_MANIFEST", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Spin-format runtime configuration (backends per label, variables providers).
    #[arg(long, env = "KEYWARD_RUNTIME_CONFIG")]
    runtime_config: Option<PathBuf>,
    /// Where embedded databases and the compiled-component cache live
    /// [default: `.spin/` beside the manifest].
    #[arg(long, env = "KEYWARD_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Where compiled components are cached [default: `<state dir>/cache`]. Entries are keyed by
    /// the wasm's hash and the engine configuration, so one directory can serve many hosts.
    #[arg(long, env = "KEYWARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
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
    /// How far embedded SQLite commits are synced before they are acknowledged: `full` survives
    /// power loss; `normal` survives a process crash (kill -9) and is several times faster for
    /// writes.
    #[arg(long, env = "KEYWARD_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    sqlite_synchronous: Synchronous,
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

async fn serve(args: ServeArgs) -> Result<()> {
    if !(args.request_timeout > 0.0 && args.request_timeout.is_finite()) {
        anyhow::bail!("--request-timeout must be a positive number of seconds");
    }
    let app = manifest::load(&args.manifest)?;
    let runtime_config = match &args.runtime_config {
        Some(path) => runtime_config::load(path)?,
        None => runtime_config::RuntimeConfig::default(),
    };
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => args
            .manifest
            .parent()
            .map(|p| p.join(".spin"))
            .unwrap_or_else(|| ".spin".into()),
    };
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let limits = instance::ExecutionLimits {
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        memory_limit_bytes: args.memory_limit.saturating_mul(1024 * 1024),
        max_instances: args.max_instances.max(1),
    };
    let started = std::time::Instant::now();
    let cache_dir = args.cache_dir.unwrap_or_else(|| state_dir.join("cache"));
    let runtime = app::build(
        &app,
        &runtime_config,
        &state_dir,
        &cache_dir,
        limits,
        args.sqlite_synchronous,
    )?;
    server::start_epoch_ticker(runtime.engine.clone());
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        app = %app.name,
        components = runtime.components.len(),
        state_dir = %state_dir.display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    // Scripts and tests read the address from this line (it matters with `--listen ...:0`).
    let mut stdout = std::io::stdout();
    writeln!(stdout, "keyward listening on http://{addr}")?;
    stdout.flush()?;
    let runtime = Arc::new(runtime);
    tokio::select! {
        r = server::serve(runtime, listener) => r,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}
