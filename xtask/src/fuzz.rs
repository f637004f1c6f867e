//! `cargo xtask fuzz` (docs/RELIABILITY.md, "Fuzzing the parsers"): builds the fuzz targets of
//! `fuzz/` with libFuzzer's coverage instrumentation on the stable toolchain, runs each for a
//! bounded time on its committed seed corpus, and writes the figures into that section's table.
//!
//! - `cargo xtask fuzz [--seconds N] [target ...]`: every target (or the named ones), N seconds
//!   each (default 30). Fails if any target found a crash; the input is kept under
//!   `target/fuzz/artifacts/<target>/`.
//! - `cargo xtask fuzz --seeds`: rewrites the seed corpora (`fuzz/corpus/<target>/seed-*`) from
//!   the specification's test vectors (`../shared/specs/vectors`), the policy profiles of
//!   docs/guardian.md, tokens minted with jwt-verify's test signer, the repository's `spin.toml`
//!   and runtime configs, and the SQL statements the services send.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::results;
use serde_json::{Value, json};

/// What cargo-fuzz passes to rustc (without a sanitizer, which needs a nightly toolchain):
/// SanitizerCoverage's edge counters, comparison tracing and PC table, which libFuzzer reads.
const COVERAGE_FLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 30u64;
    let mut only = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seeds" => return write_seeds(),
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .context("--seconds takes a positive number")?;
            }
            name => only.push(name.to_owned()),
        }
    }
    let mut targets = targets()?;
    if !only.is_empty() {
        if let Some(unknown) = only.iter().find(|n| !targets.contains(n)) {
            bail!(
                "no fuzz target `{unknown}` (there are: {})",
                targets.join(", ")
            );
        }
        targets.retain(|t| only.contains(t));
    }
    let triple = host_triple()?;
    crate::run(
        Command::new("cargo")
            .args(["build", "--release", "--manifest-path", "fuzz/Cargo.toml"])
            .args(["--target-dir", "target/fuzz", "--target", &triple, "--bins"])
            .env("RUSTFLAGS", COVERAGE_FLAGS),
    )?;
    let mut rows = Vec::new();
    for target in &targets {
        rows.push(run_target(target, &triple, seconds)?);
    }
    record(&rows, seconds)?;
    let crashed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.clean)
        .map(|r| r.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes in: {} (inputs under target/fuzz/artifacts/)",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// One target's run.
struct Outcome {
    target: String,
    executions: u64,
    corpus: usize,
    clean: bool,
}

fn targets() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir("fuzz/fuzz_targets")
        .context("fuzz/fuzz_targets")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV names no host")
}

fn run_target(target: &str, triple: &str, seconds: u64) -> Result<Outcome> {
    // New inputs go to a working corpus under target/; the committed seeds are read only.
    let work = PathBuf::from("target/fuzz/corpus").join(target);
    let artifacts = PathBuf::from("target/fuzz/artifacts").join(target);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&artifacts)?;
    let seeds = PathBuf::from("fuzz/corpus").join(target);
    std::fs::create_dir_all(&seeds)?;
    let binary = PathBuf::from("target/fuzz")
        .join(triple)
        .join("release")
        .join(target);
    eprintln!("=== fuzzing {target} for {seconds} s");
    let started = Instant::now();
    let out = Command::new(&binary)
        .arg(&work)
        .arg(&seeds)
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-max_len=65536")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let corpus = std::fs::read_dir(&work).map(|d| d.count()).unwrap_or(0);
    let clean = out.status.success();
    if !clean {
        // The crash report: the panic message, libFuzzer's summary and the saved input.
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("    {line}");
        }
    }
    eprintln!(
        "    {target}: {executions} inputs in {:.0} s, corpus {corpus}, {}",
        started.elapsed().as_secs_f64(),
        if clean { "no crash" } else { "CRASH" }
    );
    Ok(Outcome {
        target: target.to_owned(),
        executions,
        corpus,
        clean,
    })
}

/// Replaces the results table in docs/RELIABILITY.md with this run's.
fn record(rows: &[Outcome], seconds: u64) -> Result<()> {
    let mut table = format!(
        "Latest run: {}, {seconds} s per target.\n\n| target | inputs tried | corpus after | crashes |\n|---|---:|---:|---:|\n",
        results::today()
    );
    for r in rows {
        let _ = writeln!(
            table,
            "| `{}` | {} | {} | {} |",
            r.target,
            r.executions,
            r.corpus,
            u8::from(!r.clean)
        );
    }
    let total: u64 = rows.iter().map(|r| r.executions).sum();
    let _ = writeln!(
        table,
        "| all | {total} | | {} |",
        rows.iter().filter(|r| !r.clean).count()
    );
    results::splice("fuzz", &table)
}

/// Writes every target's seed corpus anew.
fn write_seeds() -> Result<()> {
    let vectors = Path::new("../shared/specs/vectors");
    let read = |name: &str| -> Result<Value> {
        let path = vectors.join(name);
        serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
        )
        .with_context(|| path.display().to_string())
    };
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();

    for case in read("sessionist.json")?.as_array().into_iter().flatten() {
        let date = text(case, "date");
        let seed = format!(
            "{}\n{date}\n{date}\n{}",
            text(case, "header"),
            text(case, "body")
        );
        seeds.push(("sessionist_header", seed.into_bytes()));
    }

    let guardian = read("guardian.json")?;
    for case in guardian.as_array().into_iter().flatten() {
        let body = |route: u8, v: Value| {
            let mut bytes = vec![route];
            bytes.extend(v.to_string().into_bytes());
            bytes
        };
        match case["kind"].as_str().unwrap_or_default() {
            "eip155_legacy_tx" | "eip1559_tx" => {
                seeds.push(("guardian_requests", body(1, case["request"].clone())));
            }
            "sign_digest" => {
                seeds.push((
                    "guardian_requests",
                    body(0, json!({"raw_data": case["raw_data"]})),
                ));
            }
            "eip191_personal_sign" => seeds.push((
                "guardian_requests",
                body(
                    3,
                    json!({"message": case["message"], "encoding": case["encoding"]}),
                ),
            )),
            "eip712_typed_data" => seeds.push((
                "guardian_requests",
                body(4, json!({"typed_data": case["typed_data"]})),
            )),
            "eip55_checksum" => {
                seeds.push(("guardian_numbers", text(case, "checksummed").into_bytes()));
                seeds.push(("guardian_numbers", text(case, "lowercase").into_bytes()));
            }
            "bip39_entropy" | "bip44_derivation" => {
                seeds.push(("guardian_numbers", text(case, "mnemonic").into_bytes()));
            }
            "envelope" => {
                seeds.push(("envelope_open", text(case, "envelope").into_bytes()));
                seeds.push(("envelope_open", text(case, "master_key").into_bytes()));
            }
            _ => {}
        }
    }
    for number in [
        "0",
        "1000000000000000000",
        "0x1bc16d674ec80000",
        "-1",
        "115792089237316195423570985008687907853269984665640564039457584007913129639935",
    ] {
        seeds.push(("guardian_numbers", number.as_bytes().to_vec()));
    }

    let shield = read("shield.json")?;
    let part = |v: &Value| {
        format!(
            "{}\n{}\n{}\n{}",
            text(v, "db_part_b64"),
            text(v, "encryption_part_b64"),
            text(&shield["key_check"], "kcv_b64"),
            text(&shield, "ciphertext_b64")
        )
    };
    seeds.push(("shield_parts", part(&shield).into_bytes()));
    seeds.push((
        "shield_parts",
        part(&shield["alternate_split"]).into_bytes(),
    ));
    for example in shield["legacy_prefix_examples"]
        .as_array()
        .into_iter()
        .flatten()
    {
        seeds.push(("shield_parts", part(example).into_bytes()));
    }
    for share in [
        json!({"secret": "c2VjcmV0", "entropy": "none"}),
        json!({"secret": "c2VjcmV0", "entropy": "user", "salt": "c2FsdA==", "iterations": 600000, "length": 32, "digest": "SHA-256"}),
        json!({"secret": text(&shield, "db_part_b64"), "entropy": "project", "encryption_part": text(&shield, "encryption_part_b64")}),
        json!({"secret": "c2VjcmV0", "entropy": "passkey", "reference": "default", "storage_method_id": 0}),
    ] {
        seeds.push(("shield_share", share.to_string().into_bytes()));
    }

    // The policy profiles of docs/guardian.md: every JSON block of its policy section.
    let guardian_doc = std::fs::read_to_string("docs/guardian.md")?;
    for block in guardian_doc.split("```json").skip(1) {
        let Some((json, _)) = block.split_once("```") else {
            continue;
        };
        if let Ok(doc) = serde_json::from_str::<Value>(json)
            && doc.get("chain_ids").is_some()
        {
            seeds.push(("guardian_policy", doc.to_string().into_bytes()));
        }
    }

    // Tokens and keys from jwt-verify's fixed test keys, one per algorithm family.
    use jwt_verify::Algorithm;
    use jwt_verify::test_signer::{TestSigner, jwks_json};
    let claims = json!({"iss": "https://issuer.example", "aud": "client", "sub": "user-1",
        "iat": 1_767_225_000, "exp": 1_767_229_200, "nonce": "n"});
    for alg in [
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::EdDSA,
        Algorithm::ES384,
    ] {
        let signer = TestSigner::new(alg, "k1");
        let mut seed = jwks_json(&[&signer]).into_bytes();
        seed.push(0);
        seed.extend(signer.sign(&claims).into_bytes());
        seeds.push(("jwt_verify", seed));
        seeds.push(("jwk_pem", signer.public_pem().into_bytes()));
        seeds.push(("jwk_pem", signer.jwk().to_string().into_bytes()));
    }

    // The application as the repository ships it, and the routes and templates inside it.
    let manifest = std::fs::read_to_string("spin.toml").context("spin.toml")?;
    seeds.push(("manifest", manifest.clone().into_bytes()));
    let mut fragments = std::collections::BTreeSet::new();
    for line in manifest.lines() {
        if (line.starts_with("route = ") || line.contains("{{"))
            && let Some((_, value)) = line.split_once('"')
            && let Some((value, _)) = value.rsplit_once('"')
            && fragments.insert(value)
        {
            seeds.push(("manifest", value.as_bytes().to_vec()));
        }
    }

    // Runtime configs: the repository's, the examples of docs/OPERATIONS.md, and one of each
    // backend and provider keyward adds or reads.
    let runtime_config =
        std::fs::read_to_string("runtime-config.spin.toml").context("runtime-config.spin.toml")?;
    seeds.push(("runtime_config", runtime_config.into_bytes()));
    let operations = std::fs::read_to_string("docs/OPERATIONS.md")?;
    for block in operations.split("```toml").skip(1) {
        if let Some((toml, _)) = block.split_once("```")
            && [
                "[key_value_store.",
                "[sqlite_database.",
                "[[variables_provider]]",
            ]
            .iter()
            .any(|section| toml.contains(section))
        {
            seeds.push(("runtime_config", toml.trim_start().as_bytes().to_vec()));
        }
    }
    for config in [
        "[key_value_store.shield]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"kw:\"\n",
        "[sqlite_database.guardian]\ntype = \"postgres\"\nurl = \"postgres://keyward@db/keyward\"\npool_size = 8\n",
        "[[variables_provider]]\ntype = \"env\"\nprefix = \"KW\"\n\n[[variables_provider]]\ntype = \"static\"\nvalues = { admin_token = \"t\" }\n",
        "[[config_provider]]\ntype = \"vault\"\nurl = \"http://127.0.0.1:8200\"\ntoken = \"root\"\nmount = \"secret\"\n",
    ] {
        seeds.push(("runtime_config", config.as_bytes().to_vec()));
    }

    // The SQL the services send, as their sources write it.
    let mut sources = Vec::new();
    for dir in ["crates/services", "crates/platform/guest-kit/src"] {
        rust_sources(Path::new(dir), &mut sources)?;
    }
    sources.sort();
    let mut statements = std::collections::BTreeSet::new();
    for path in &sources {
        let code = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        for literal in string_literals(&code) {
            if is_sql(&literal) && statements.insert(literal.clone()) {
                seeds.push(("pg_sql", literal.into_bytes()));
            }
        }
    }

    let corpus = Path::new("fuzz/corpus");
    for target in targets()? {
        let dir = corpus.join(&target);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("seed-") {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        std::fs::create_dir_all(&dir)?;
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (target, bytes) in seeds {
        let n = counts.entry(target).or_default();
        *n += 1;
        std::fs::write(corpus.join(target).join(format!("seed-{n:03}")), bytes)?;
    }
    for (target, n) in counts {
        eprintln!("{target}: {n} seeds");
    }
    Ok(())
}

/// The Rust sources under `dir` (the service crates' `src/`, not their tests).
fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "tests" && n != "target")
            {
                rust_sources(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether a string literal is an SQL statement: it starts with a statement's first keyword.
fn is_sql(literal: &str) -> bool {
    const KEYWORDS: [&str; 14] = [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "ALTER",
        "DROP",
        "PRAGMA",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "WITH",
    ];
    let first = literal.split_ascii_whitespace().next().unwrap_or_default();
    KEYWORDS.contains(&first)
}

/// The `"…"` string literals of Rust source `code`, unescaped as the compiler reads them (a `\`
/// at a line's end joins it to the next line's text). Comments, character literals and raw
/// strings are skipped.
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        let after_word = prev.is_alphanumeric() || prev == '_';
        prev = c;
        match c {
            '/' if chars.peek() == Some(&'/') => while chars.next().is_some_and(|d| d != '\n') {},
            'r' if !after_word && matches!(chars.peek(), Some('#' | '"')) => {
                let mut hashes = 0;
                while chars.next_if_eq(&'#').is_some() {
                    hashes += 1;
                }
                if chars.next_if_eq(&'"').is_none() {
                    continue;
                }
                // Up to a `"` followed by as many `#`.
                while let Some(d) = chars.next() {
                    if d == '"' && (0..hashes).all(|_| chars.next_if_eq(&'#').is_some()) {
                        break;
                    }
                }
            }
            '\'' => {
                // A character literal (`'"'`, `'\''`); a lifetime's quote is left alone.
                let mut ahead = chars.clone();
                let length = match ahead.next() {
                    Some('\\') => 3,
                    Some(_) => 2,
                    None => 0,
                };
                if length > 0 && ahead.nth(length - 2) == Some('\'') {
                    for _ in 0..length {
                        chars.next();
                    }
                }
            }
            '"' => {
                let mut literal = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('\n') => while chars.next_if(|w| w.is_whitespace()).is_some() {},
                            Some('n') => literal.push('\n'),
                            Some('t') => literal.push('\t'),
                            Some(other) => literal.push(other),
                            None => {}
                        },
                        _ => literal.push(d),
                    }
                }
                out.push(literal);
                prev = '"';
            }
            _ => {}
        }
    }
    out
}
