//! Schema-driven fuzzing of the three served OpenAPI documents
//! (docs/RELIABILITY.md, "Fuzzing the APIs"): an OpenAPI fuzzer generates requests from each
//! document — valid ones, edge cases and deliberately malformed ones — against a running
//! product host with real credentials (a keyservice namespace and session, a shield project
//! with a provider and a user token, a guardian user logged in through the Okta stand-in), and
//! checks every answer against the document: no server error, documented status codes,
//! content types and response schemas. Meanwhile the host's memory must stay bounded, and it
//! must still serve afterwards.
//!
//! The fuzzer is schemathesis from PyPI (`.ci/run` installs the version pinned there).

use std::path::{Path, PathBuf};
use std::process::Command;

use keyward_e2e::{
    Host, guardian, keyservice, memory_mib, product_host, record_figures, repo_root, shield,
};

/// Examples per operation and phase: bounded so that the campaign fits CI's budget.
fn max_examples() -> String {
    std::env::var("KEYWARD_API_FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into())
}

/// What every answer is checked for (docs/RELIABILITY.md, "Fuzzing the APIs").
fn checks() -> String {
    std::env::var("KEYWARD_API_FUZZ_CHECKS").unwrap_or_else(|_| {
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".into()
    })
}

/// The bound docs/RELIABILITY.md states: resident memory grows by less than this over a run.
const MEMORY_GROWTH_BOUND_MIB: u64 = 256;

/// The one documented 5xx: the spec's answer for a route upstream Shield never implemented
/// (tests/api-fuzz/schemathesis.toml).
const DOCUMENTED_501: &str = "501 POST /project/reset-api-secret";

fn fuzzer() -> PathBuf {
    let name = std::env::var_os("KEYWARD_SCHEMATHESIS").unwrap_or_else(|| "schemathesis".into());
    let found = Command::new(&name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`schemathesis` is not on PATH: the API fuzzing needs it (pip install schemathesis; \
         .ci/run installs the pinned version), or run the other tests with `--skip api_fuzz`"
    );
    PathBuf::from(name)
}

/// What one document's run found: the fuzzer's JSON report and the hooks' answer counts.
struct Figures {
    operations: u64,
    cases: u64,
    failures: u64,
    answers: serde_json::Map<String, serde_json::Value>,
}

impl Figures {
    fn count(&self, key: &str) -> u64 {
        self.answers
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }

    /// The answers with a 5xx status, by status and operation.
    fn server_errors(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .answers
            .iter()
            .filter(|(k, _)| k.starts_with('5') && !k.ends_with("xx"))
            .filter(|(k, _)| k.as_str() != DOCUMENTED_501)
            .map(|(k, v)| format!("{k} ({v}×)"))
            .collect();
        found.sort();
        found
    }
}

/// Runs the fuzzer on `document` (a path on the host) with `headers`; returns its figures and
/// fails with its output when any check failed.
fn fuzz(h: &Host, document: &str, headers: &[String], env: &[(&str, String)]) -> Figures {
    let work = tempfile::tempdir().expect("tempdir");
    let report = work.path().join("report.json");
    let counts = work.path().join("counts.json");
    let mut cmd = Command::new(fuzzer());
    cmd.current_dir(work.path())
        .arg("--config-file")
        .arg(repo_root().join("tests/api-fuzz/schemathesis.toml"))
        .arg("run")
        .arg(h.url(document))
        .args(["--url", &h.base])
        .args(["--checks", &checks()])
        .args(["--max-examples", &max_examples()])
        .args(["--seed", "20261203"])
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        .args(["--generation-with-security-parameters", "false"])
        .args(["--request-timeout", "30"])
        // The maintainer's changes to guardian's identity providers and token chains would
        // switch off the very login the fuzzer's own tokens come from; tests of their own
        // (guardian, guardian_revocation) cover them.
        .args(["--exclude-path", "/guardian/authorize"])
        .args(["--exclude-path", "/guardian/revoke"])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .args(["--no-color", "--output-truncate", "false"])
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", repo_root().join("tests/api-fuzz"))
        .env("KEYWARD_FUZZ_BASE", &h.base)
        .env("KEYWARD_FUZZ_COUNTS", &counts);
    for header in headers {
        cmd.args(["-H", header]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run schemathesis");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("=== {document}\n{text}");
    eprintln!(
        "answers: {}",
        std::fs::read_to_string(&counts).unwrap_or_default()
    );
    let figures = read_figures(&report, &counts)
        .unwrap_or_else(|| panic!("no readable report for {document}:\n{text}"));
    assert!(
        out.status.success() && figures.failures == 0,
        "the OpenAPI fuzzing of {document} found failures:\n{text}"
    );
    assert_eq!(
        figures.server_errors(),
        Vec::<String>::new(),
        "server errors while fuzzing {document}"
    );
    // The credentials worked: requests got past authentication, not only 401s.
    assert!(
        figures.count("2xx") >= 100,
        "only {} successful answers while fuzzing {document}: are the credentials right?",
        figures.count("2xx")
    );
    figures
}

fn read_figures(report: &Path, counts: &Path) -> Option<Figures> {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report).ok()?).ok()?;
    let counts: serde_json::Value = serde_json::from_slice(&std::fs::read(counts).ok()?).ok()?;
    Some(Figures {
        operations: report["operations"]["tested"].as_u64()?,
        cases: report["test_cases"]["generated"].as_u64()?,
        failures: report["test_cases"]["unique_failures"].as_u64()?
            + u64::try_from(report["failures"].as_array()?.len()).ok()?,
        answers: counts.as_object()?.clone(),
    })
}

#[test]
fn the_three_openapi_documents_hold_under_schema_driven_fuzzing() {
    let okta = guardian::okta_stub();
    // The fuzzer logs in again whenever its token chain breaks (and fuzzes the login route
    // itself): the per-client login limit, tested on its own elsewhere, would turn the rest of
    // the run into 401s.
    let h = product_host(okta.port)
        .env("SPIN_VARIABLE_LOGIN_RATE_LIMIT_PER_MINUTE", "100000")
        .start();
    let pid = h.child.id();
    let admin = format!("Authorization: Bearer {}", keyservice::ADMIN_TOKEN);

    // keyservice: a namespace, and one user's session for /key.
    let namespace = "fuzz";
    let secret = keyservice::create_namespace(&h.base, namespace);
    let session = keyservice::session(&h.base, namespace, &secret, "fuzz-user");
    // shield: a project whose CUSTOM provider trusts the test signer, and a user token.
    let project = shield::register(&h, false);
    let signer = shield::rsa();
    shield::pem_provider(&h, &project, &signer, "rsa");
    let user_token = shield::tok(&signer, "fuzz-user");
    // guardian: a user the Okta stand-in lets in, who has a key.
    assert_eq!(guardian::login(&h, "fuzzer").status, 200);

    let before = memory_mib(pid, "VmRSS:");
    let all = vec![
        (
            "keyservice",
            fuzz(
                &h,
                "/keyservice/openapi.json",
                std::slice::from_ref(&admin),
                &[
                    ("KEYWARD_FUZZ_NAMESPACE", namespace.to_owned()),
                    ("KEYWARD_FUZZ_NAMESPACE_SECRET", secret.clone()),
                    ("KEYWARD_FUZZ_SESSION_TOKEN", session.token.clone()),
                    ("KEYWARD_FUZZ_INIT_TOKEN", session.init_token.clone()),
                ],
            ),
        ),
        (
            "shield",
            fuzz(
                &h,
                "/shield/openapi.json",
                &[
                    format!("X-API-Key: {}", project.key),
                    format!("X-API-Secret: {}", project.secret),
                    "X-Auth-Provider: custom".to_owned(),
                    format!("Authorization: Bearer {user_token}"),
                ],
                &[],
            ),
        ),
        (
            "guardian",
            fuzz(
                &h,
                "/guardian/openapi.json",
                std::slice::from_ref(&admin),
                &[("KEYWARD_FUZZ_GUARDIAN_USER", "fuzzer".to_owned())],
            ),
        ),
    ];
    let after = memory_mib(pid, "VmRSS:");
    let peak = memory_mib(pid, "VmHWM:");
    assert!(
        after < before + MEMORY_GROWTH_BOUND_MIB,
        "resident memory grew from {before} MiB to {after} MiB over the fuzzing (peak {peak} MiB)"
    );
    // Still serving, and what was stored before is still there.
    assert_eq!(h.get("/healthz").status, 200);
    let r = keyservice::key(&h.base, &session, "GET", b"");
    assert!(matches!(r.status, 200 | 404), "{}", r.text());
    for (service, f) in &all {
        record_figures(
            "api-fuzz",
            service,
            &format!(
                "| {service} | {} | {} | {} | {} | {} | {} |",
                f.operations,
                f.cases,
                f.count("2xx"),
                f.count("4xx"),
                f.count("5xx"),
                f.failures,
            ),
        );
    }
    record_figures(
        "api-fuzz",
        "~memory",
        &format!(
            "\nHost memory: {before} MiB resident before, {after} MiB after (peak {peak} MiB); bound: +{MEMORY_GROWTH_BOUND_MIB} MiB."
        ),
    );
}
