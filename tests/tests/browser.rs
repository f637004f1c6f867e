//! Browser tests: Debian's Chromium, headless, driven by playwright-core from `clients/js`. The
//! SDK's pages run the keyservice flow (the page encrypts, the app's server stores ciphertext
//! only) and sign with guardian through the ethers signer, against a running product host
//! with the Okta stand-in; the pages' origin is allowed by both services' CORS settings.
//! Screenshots of every page go to `target/screenshots/`.

use std::process::Command;

use keyward_e2e::{
    build_js_client, free_port, guardian, js_client_dir, keyservice, product_host, run_checked,
    target_dir,
};

fn chromium() -> String {
    let path = std::env::var("KEYWARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no Chromium at {path}: install Debian's `chromium` package (.ci/run does), or set \
         KEYWARD_CHROMIUM; skip with `--skip browser`"
    );
    path
}

/// Runs one of `clients/js/browser/*.mjs`; fails with its output.
fn run_browser_script(script: &str, env: &[(&str, String)]) {
    let browser = chromium();
    build_js_client();
    let package = js_client_dir();
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let report = run_checked(
        Command::new("node")
            .arg(format!("browser/{script}"))
            .current_dir(&package)
            .env("KEYWARD_CHROMIUM", browser)
            .env("KEYWARD_SCREENSHOT_DIR", &shots)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str()))),
        script,
    );
    eprintln!("{report}");
}

#[test]
fn the_sdk_runs_the_keyservice_flow_and_guardian_signing_in_chromium() {
    let okta = guardian::okta_stub();
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let h = product_host(okta.port)
        .env("SPIN_VARIABLE_CORS_ALLOWED_ORIGINS", &origin)
        .env("SPIN_VARIABLE_GUARDIAN_CORS_ALLOWED_ORIGINS", &origin)
        .start();
    run_browser_script(
        "run.mjs",
        &[
            ("KEYWARD_BASE", h.base.clone()),
            ("KEYWARD_PAGE_PORT", page_port.to_string()),
            ("KEYWARD_ADMIN_TOKEN", keyservice::ADMIN_TOKEN.to_owned()),
            ("KEYWARD_GUARDIAN_USER", "browser-user".to_owned()),
        ],
    );
}

#[test]
fn the_setup_page_signs_in_with_oidc_and_okta_and_exports_after_a_fresh_login() {
    let okta = guardian::okta_stub();
    let idp_port = free_port();
    let idp = format!("http://127.0.0.1:{idp_port}");
    let h = product_host(okta.port)
        .env("SPIN_VARIABLE_OIDC_ISSUER", &idp)
        .env("SPIN_VARIABLE_OIDC_AUDIENCE", "setup-client")
        .env("SPIN_VARIABLE_OIDC_JWKS_URL", &format!("{idp}/jwks"))
        .env("SPIN_VARIABLE_OIDC_REQUIRE_NONCE", "true")
        .env(
            "SPIN_VARIABLE_GUARDIAN_IDP_HOSTS",
            &format!("http://127.0.0.1:{},{idp}", okta.port),
        )
        .start();
    run_browser_script(
        "setup.mjs",
        &[
            ("KEYWARD_BASE", h.base.clone()),
            ("KEYWARD_IDP_PORT", idp_port.to_string()),
            ("KEYWARD_OIDC_CLIENT_ID", "setup-client".to_owned()),
            ("KEYWARD_OKTA_USER", "setup-okta".to_owned()),
        ],
    );
}
