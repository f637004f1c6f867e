//! `cargo xtask fuzz` (docs/RELIABILITY.md, "Fuzzing the parsers"): builds the fuzz targets of
//! `fuzz/` with libFuzzer's coverage instrumentation on the stable toolchain, runs each for a
//! bounded time on its committed seed corpus, and writes the figures into that section's table.
//!
//! - `cargo xtask fuzz [--seconds N] [target ...]`: every target (or the named ones), N seconds
//!   each (default 30). Fails if any target found a crash; the input is kept under
//!   `target/fuzz/artifacts/<target>/`.
//! - `cargo xtask fuzz --seeds`: rewrites the seed corpora (`fuzz/corpus/<target>/seed-*`) from
//!   the specification's test vectors (`../shared/specs/vectors`), the policy profiles of
//!   docs/guardian.md and tokens minted with jwt-verify's test signer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What cargo-fuzz passes to rustc (without a sanitizer, which needs a nightly toolchain):
/// SanitizerCoverage's edge counters, comparison tracing and PC table, which libFuzzer reads.
const COVERAGE_FLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

const RESULTS_BEGIN: &str = "<!-- fuzz-results:begin (written by `cargo xtask fuzz`) -->";
const RESULTS_END: &str = "<!-- fuzz-results:end -->";

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
    let path = Path::new("docs/RELIABILITY.md");
    let doc = std::fs::read_to_string(path).context("docs/RELIABILITY.md")?;
    let (Some(begin), Some(end)) = (doc.find(RESULTS_BEGIN), doc.find(RESULTS_END)) else {
        bail!("docs/RELIABILITY.md has no fuzz results markers");
    };
    let mut table = format!(
        "{RESULTS_BEGIN}\nLatest run: {}, {seconds} s per target.\n\n| target | inputs tried | corpus after | crashes |\n|---|---:|---:|---:|\n",
        today()
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
    let updated = format!(
        "{}{}{}",
        doc.get(..begin).unwrap_or_default(),
        table,
        doc.get(end..).unwrap_or_default()
    );
    std::fs::write(path, updated)?;
    Ok(())
}

/// Today's UTC date, `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
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
