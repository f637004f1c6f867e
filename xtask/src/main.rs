//! `cargo xtask <command>`: the project's developer commands.
//!
//! - `up`: build the components and the host, then serve `spin.toml` on the embedded default
//!   (127.0.0.1:3000). Extra arguments go to `keyward serve`.
//! - `test`: build everything the tests need, then run the whole test suite: unit, host
//!   conformance and end-to-end tests (on both backend sets when PostgreSQL and Redis are
//!   configured), then the fuzz targets for a bounded time.
//! - `build-wasm`: build the product components and the test-only guests for wasm32-wasip2.
//! - `bench`: build the components and the host (`host` profile), then run `keyward-bench`
//!   (docs/PERFORMANCE.md).
//! - `fuzz`: build the fuzz targets with coverage instrumentation and run each for a bounded
//!   time; `fuzz --seeds` rewrites their seed corpora (docs/RELIABILITY.md).
//! - `figures`: writes the reliability figures that end-to-end tests recorded (API fuzzing,
//!   fault injection) into docs/RELIABILITY.md, as `test` does after its passes.

mod fuzz;
mod results;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use base64::Engine as _;

const WASM_TARGET: &str = "wasm32-wasip2";
/// The serving host: the `host` profile (opt-level 3, thin LTO), not `release`, which is tuned
/// for small components.
const HOST_BUILD: [&str; 5] = ["build", "--profile", "host", "--package", "keyward-host"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("up") => up(&root, &args[1..]),
        Some("test") => test(&args[1..]),
        Some("build-wasm") => build_wasm(),
        Some("bench") => bench(),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("figures") => results::publish_recorded(),
        _ => {
            eprintln!("usage: cargo xtask <up|test|build-wasm|bench|fuzz|figures> [args]");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        // Without rustup the target must come with the toolchain; cargo will say if it does not.
        Err(_) => Ok(()),
    }
}

/// Crate directories that build to Spin components: the product's and the test-only guests.
fn wasm_packages() -> Result<Vec<String>> {
    let mut packages = Vec::new();
    for dir in ["components", "tests/guests"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            let manifest = path.join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else {
                continue;
            };
            if let Some(name) = text.lines().find_map(|l| {
                l.strip_prefix("name = \"")
                    .and_then(|r| r.strip_suffix('"'))
            }) {
                packages.push(name.to_string());
            }
        }
    }
    Ok(packages)
}

fn build_wasm() -> Result<()> {
    ensure_wasm_target()?;
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--target", WASM_TARGET]);
    for p in wasm_packages()? {
        cmd.args(["--package", &p]);
    }
    run(&mut cmd)
}

/// Builds what the bench starts (components, bench guest, host), then runs it.
fn bench() -> Result<()> {
    build_wasm()?;
    run(Command::new("cargo").args(HOST_BUILD))?;
    run(Command::new("cargo").args(["run", "--release", "--package", "keyward-bench"]))
}

fn test(extra: &[String]) -> Result<()> {
    results::clear_recorded()?;
    build_wasm()?;
    // The end-to-end tests start the host binary, so build it first (same profile as the tests).
    run(Command::new("cargo").args(["build", "--package", "keyward-host"]))?;
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--workspace"]);
    for p in wasm_packages()? {
        cmd.args(["--exclude", &p]);
    }
    cmd.args(extra);
    run(&mut cmd)?;
    scale_out_pass(extra)?;
    // The API fuzzing's and the fault tests' figures (docs/RELIABILITY.md).
    results::publish_recorded()?;
    fuzz_pass()
}

/// The parsers' fuzz targets, `KEYWARD_FUZZ_SECONDS` each (default 30; 0 skips them, for quick
/// local runs: CI always runs them).
fn fuzz_pass() -> Result<()> {
    let seconds = std::env::var("KEYWARD_FUZZ_SECONDS").unwrap_or_else(|_| "30".into());
    if seconds.trim() == "0" {
        eprintln!("\n*** SKIPPED: fuzzing (KEYWARD_FUZZ_SECONDS=0).\n");
        return Ok(());
    }
    eprintln!("\n=== fuzzing the parsers, {seconds} s each ===");
    fuzz::fuzz(&["--seconds".to_owned(), seconds])
}

/// The end-to-end suite again on PostgreSQL + Redis, plus the multi-instance and crash tests
/// (marked `#[ignore]` because they need those servers), when the servers are configured:
/// `.ci/run` starts them with `scripts/test-backends.sh`.
fn scale_out_pass(extra: &[String]) -> Result<()> {
    let configured = ["KEYWARD_TEST_PG_URL", "KEYWARD_TEST_REDIS_URL"]
        .iter()
        .all(|v| std::env::var_os(v).is_some());
    if !configured {
        eprintln!(
            "\n*** SKIPPED: the PostgreSQL + Redis pass. Start the servers with\n***   eval \"$(scripts/test-backends.sh)\"\n*** and run `cargo xtask test` again (CI always does).\n"
        );
        return Ok(());
    }
    eprintln!("\n=== end-to-end suite on PostgreSQL + Redis ===");
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--package", "keyward-e2e"])
        .args([
            "--test",
            "audit",
            "--test",
            "conformance",
            "--test",
            "erasure",
            "--test",
            "faults",
            "--test",
            "front_door",
            "--test",
            "guardian",
            "--test",
            "guardian_front_door",
            "--test",
            "guardian_identity",
            "--test",
            "guardian_policy",
            "--test",
            "guardian_revocation",
        ])
        .args([
            "--test",
            "key_lifecycle",
            "--test",
            "keyservice",
            "--test",
            "observability",
            "--test",
            "outbound_safety",
            "--test",
            "revocation",
            "--test",
            "scale",
            "--test",
            "scenarios",
            "--test",
            "shield",
            "--test",
            "shield_otp",
            "--test",
            "shield_import",
            "--test",
            "shield_limits",
        ])
        .env("KEYWARD_TEST_BACKEND", "scale-out")
        .args(extra)
        .args(["--", "--include-ignored"]);
    run(&mut cmd)
}

fn up(root: &Path, extra: &[String]) -> Result<()> {
    build_wasm()?;
    run(Command::new("cargo").args(HOST_BUILD))?;
    let mut cmd = Command::new(root.join("target/host/keyward"));
    cmd.arg("serve").args(extra);
    for (name, value) in dev_secrets(&root.join(".spin"))? {
        let var = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        if std::env::var_os(&var).is_none() {
            cmd.env(var, value);
        }
    }
    // Not `{cmd:?}`: that would print the secrets passed in its environment.
    eprintln!(
        "+ {} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let status = cmd.status()?;
    if !status.success() {
        bail!("keyward exited with {status}");
    }
    Ok(())
}

/// Development secrets: generated once into `.spin/dev-secrets.env` (mode 0600) unless the
/// environment provides them. Production deployments set `SPIN_VARIABLE_MASTER_KEY` etc. or use a
/// runtime-config variables provider instead.
fn dev_secrets(state: &Path) -> Result<Vec<(String, String)>> {
    let path = state.join("dev-secrets.env");
    if !path.exists() {
        std::fs::create_dir_all(state)?;
        let mut key = [0u8; 32];
        let mut token = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let text = format!(
            "# Generated by `cargo xtask up` for local use. Keep it secret; losing master_key loses the data.\nmaster_key={}\nadmin_token={}\n",
            b64.encode(key),
            url.encode(token)
        );
        write_private(&path, &text)?;
        eprintln!(
            "generated development secrets (master_key, admin_token) in {}",
            path.display()
        );
    } else {
        eprintln!("using development secrets from {}", path.display());
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    Ok(std::fs::write(path, text)?)
}
