//! The TypeScript SDK (`clients/js`) against a running product host: its Node tests run the
//! keyservice flow (browser and Real Service halves), guardian logins with token chaining, and
//! the ethers signer and viem account against a JSON-RPC stand-in, with the Okta stand-in the
//! other guardian tests use.

use std::process::Command;

use keyward_e2e::{
    build_js_client, guardian, js_client_dir, keyservice, node_tool, product_host, run_checked,
};

#[test]
fn the_sdk_tests_pass_against_the_host() {
    build_js_client();
    let okta = guardian::okta_stub();
    let h = product_host(okta.port)
        .env("SPIN_VARIABLE_LOGIN_RATE_LIMIT_PER_MINUTE", "10000")
        .start();
    let report = run_checked(
        Command::new("node")
            .args(["--test", "--test-reporter=tap", "test/"])
            .current_dir(js_client_dir())
            .env("KEYWARD_BASE", &h.base)
            .env("KEYWARD_ADMIN_TOKEN", keyservice::ADMIN_TOKEN)
            .env("KEYWARD_GUARDIAN_USER", "sdk-user"),
        "the SDK's tests",
    );
    eprintln!("{report}");
    assert!(
        report.contains("# skipped 0") && report.contains("# fail 0"),
        "tests were skipped or not reported:\n{report}"
    );
}

/// The README's first example, taken from the README of the package `npm pack` makes, runs as
/// written against a host started like `cargo xtask up` (admin token, embedded storage); the
/// packed package also loads through `require` (its ethers and viem entries need those
/// optional peers installed, which this app does not).
#[test]
fn the_packed_readme_example_runs_as_written() {
    build_js_client();
    let work = tempfile::tempdir().expect("tempdir");
    let tarball = run_checked(
        node_tool("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(work.path())
            .current_dir(js_client_dir()),
        "npm pack",
    )
    .trim()
    .to_owned();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).expect("app dir");
    std::fs::write(
        app.join("package.json"),
        r#"{ "type": "module", "private": true }"#,
    )
    .expect("package.json");
    run_checked(
        node_tool("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .arg(work.path().join(&tarball))
            .current_dir(&app),
        "npm install of the packed package",
    );
    // The README as packed, its first JavaScript block.
    let readme = std::fs::read_to_string(app.join("node_modules/@keyward/client/README.md"))
        .expect("the packed README");
    let example = readme
        .split("```js\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```js block in the README");
    std::fs::write(app.join("example.mjs"), example).expect("example.mjs");

    let h = keyservice::host().start();
    let said = run_checked(
        Command::new("node")
            .arg("example.mjs")
            .current_dir(&app)
            .env("KEYWARD_URL", &h.base)
            .env("KEYWARD_ADMIN_TOKEN", keyservice::ADMIN_TOKEN),
        "the README example",
    );
    assert!(
        said.contains("ok: the Real Service only ever saw ciphertext"),
        "the README example said: {said}"
    );
    run_checked(
        Command::new("node")
            .args([
                "-e",
                "const k = require('@keyward/client'); \
                 if (typeof k.GuardianClient !== 'function' || typeof k.KeyserviceClient !== 'function') process.exit(1)",
            ])
            .current_dir(&app),
        "loading the CommonJS build",
    );
}
