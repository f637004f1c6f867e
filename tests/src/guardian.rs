//! A guardian client for tests that need its flows as building blocks (the guardian suite, and
//! the multi-instance tests): a stub Okta (Authentication API wire format), a stub JWKS endpoint,
//! guardian's section of the product manifest, login and token helpers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jwt_verify::test_signer::{TestSigner, jwks_json};

use crate::{
    Host, HostBuilder, Resp, Stub, StubReply, TEST_MASTER_KEY, Value, json, repo_root, wasm,
};

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "guardian-e2e";

// ---- stub Okta ----------------------------------------------------------------------------

pub fn reply(status: u16, v: Value) -> StubReply {
    (status, "application/json", v.to_string().into_bytes())
}

/// Okta's Authentication API for a few scripted users (the username picks the scenario; the
/// state token carries it through verify/poll). Push users answer WAITING three times first.
pub fn okta_stub() -> Stub {
    let polls: Arc<Mutex<HashMap<String, u32>>> = Arc::new(Mutex::new(HashMap::new()));
    let cell: Arc<Mutex<u16>> = Arc::new(Mutex::new(0));
    let port_cell = cell.clone();
    let stub = Stub::start(move |req| {
        let port = *port_cell.lock().expect("port");
        let base = format!("http://127.0.0.1:{port}");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let success = |user: &str| {
            reply(
                200,
                json!({"status": "SUCCESS", "sessionToken": "s",
                "_embedded": {"user": {"id": format!("00u{user}")}}}),
            )
        };
        let mfa = |user: &str, factor_base: &str| {
            reply(
                200,
                json!({"status": "MFA_REQUIRED", "stateToken": user, "_embedded": {"factors": [
                {"id": "sms1", "factorType": "sms", "provider": "OKTA",
                 "_links": {"verify": {"href": format!("{base}/api/v1/authn/factors/sms1/verify")}}},
                {"id": "opf1", "factorType": "push", "provider": "OKTA",
                 "_links": {"verify": {"href": format!("{factor_base}/api/v1/authn/factors/opf1/verify")}}}]}}),
            )
        };
        let challenge = |user: &str, result: &str| {
            reply(
                200,
                json!({"status": "MFA_CHALLENGE", "stateToken": user, "factorResult": result,
                "_links": {"next": {"href": format!("{base}/api/v1/authn/factors/opf1/verify")},
                           "cancel": {"href": format!("{base}/api/v1/authn/cancel")}}}),
            )
        };
        match req.target.as_str() {
            "/api/v1/authn" => {
                let user = body["username"].as_str().unwrap_or("").to_owned();
                if body["password"] == "bad" {
                    return reply(
                        401,
                        json!({"errorCode": "E0000004", "errorSummary": "Authentication failed"}),
                    );
                }
                match user.as_str() {
                    "locked" => reply(200, json!({"status": "LOCKED_OUT"})),
                    "expired" => reply(
                        200,
                        json!({"status": "PASSWORD_EXPIRED", "stateToken": "e"}),
                    ),
                    "enroll" => reply(200, json!({"status": "MFA_ENROLL", "stateToken": "e"})),
                    "nopush" => reply(
                        200,
                        json!({"status": "MFA_REQUIRED", "stateToken": "n",
                        "_embedded": {"factors": [{"factorType": "sms", "provider": "OKTA"}]}}),
                    ),
                    "boom" => reply(503, json!({})),
                    "foreign" => mfa(&user, "http://127.0.0.1:9"),
                    "warn" => reply(
                        200,
                        json!({"status": "PASSWORD_WARN", "stateToken": "warn",
                        "_links": {"skip": {"href": format!("{base}/api/v1/authn/skip")}}}),
                    ),
                    u if u.starts_with("push")
                        || u.starts_with("reject")
                        || u.starts_with("hang") =>
                    {
                        mfa(u, &base)
                    }
                    u => success(u),
                }
            }
            "/api/v1/authn/skip" => mfa("pushwarn", &base),
            "/api/v1/authn/cancel" => reply(200, json!({"status": "CANCELLED"})),
            "/api/v1/authn/factors/opf1/verify" => {
                let user = body["stateToken"].as_str().unwrap_or("").to_owned();
                if user.starts_with("reject") {
                    return challenge(&user, "REJECTED");
                }
                if user.starts_with("hang") {
                    return challenge(&user, "WAITING");
                }
                let mut p = polls.lock().expect("polls");
                let n = p.entry(user.clone()).or_insert(0);
                *n += 1;
                if *n <= 3 {
                    challenge(&user, "WAITING")
                } else {
                    success(&user)
                }
            }
            t if t.starts_with("/api/v1/users/") && t.ends_with("/groups") => {
                let name = if t.contains("00uinsider") {
                    "wallet-users"
                } else {
                    "Everyone"
                };
                reply(200, json!([{"id": "g1", "profile": {"name": name}}]))
            }
            _ => reply(404, json!({"errorCode": "E0000007"})),
        }
    });
    *cell.lock().expect("port") = stub.port;
    stub
}

pub fn jwks_stub(signers: &[&TestSigner]) -> Stub {
    let doc = jwks_json(signers).into_bytes();
    Stub::start(move |_| (200, "application/json", doc.clone()))
}

// ---- host ---------------------------------------------------------------------------------

/// The product `spin.toml` reduced to its preamble (`[application]`, `[variables]`) and its
/// guardian section, with absolute wasm paths: guardian's real routes and grants, independent of
/// whether the other services' components are built.
pub fn guardian_manifest() -> String {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("read spin.toml");
    let mut keep = true;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ---- ") {
            keep = rest.starts_with("guardian");
        }
        if !keep {
            continue;
        }
        match line
            .strip_prefix("source = \"target/wasm32-wasip2/release/")
            .and_then(|r| r.strip_suffix(".wasm\""))
        {
            Some(name) => out.push(format!("source = \"{}\"", wasm(name).display())),
            None => out.push(line.to_owned()),
        }
    }
    let manifest = out.join("\n");
    assert!(
        manifest.contains("[component.guardian-sign]"),
        "no guardian section in spin.toml"
    );
    manifest
}

/// guardian's product routes and grants with the stub identity providers at `okta` / `jwks`
/// (ports) and extra variables `vars` (`name`, value) — for tests that start several hosts.
pub fn builder(okta: u16, jwks: u16, vars: &[(&str, &str)]) -> HostBuilder {
    let mut b = HostBuilder::new(guardian_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env(
            "SPIN_VARIABLE_OKTA_BASE_URL",
            &format!("http://127.0.0.1:{okta}"),
        )
        .env(
            "SPIN_VARIABLE_GUARDIAN_IDP_HOSTS",
            &format!("http://127.0.0.1:{okta},http://127.0.0.1:{jwks}"),
        )
        .env("SPIN_VARIABLE_OIDC_ISSUER", ISSUER)
        .env("SPIN_VARIABLE_OIDC_AUDIENCE", AUDIENCE)
        .env(
            "SPIN_VARIABLE_OIDC_JWKS_URL",
            &format!("http://127.0.0.1:{jwks}/jwks"),
        );
    for (k, v) in vars {
        b = b.env(&format!("SPIN_VARIABLE_{}", k.to_uppercase()), v);
    }
    b
}

/// `b` with guardian's Okta login pointed at the stub on port `okta` (the only identity
/// provider guardian may reach).
pub fn with_okta(b: HostBuilder, okta: u16) -> HostBuilder {
    let base = format!("http://127.0.0.1:{okta}");
    b.env("SPIN_VARIABLE_OKTA_BASE_URL", &base)
        .env("SPIN_VARIABLE_GUARDIAN_IDP_HOSTS", &base)
}

pub fn host(okta: u16, jwks: u16, vars: &[(&str, &str)]) -> Host {
    builder(okta, jwks, vars).start()
}

pub fn post(h: &Host, path: &str, token: Option<&str>, body: &Value) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    h.req("POST", path, &headers, Some(body.to_string().as_bytes()))
}

pub fn get(h: &Host, path: &str, token: &str) -> Resp {
    h.req(
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
}

pub fn login(h: &Host, user: &str) -> Resp {
    post(
        h,
        "/guardian/login",
        None,
        &json!({"okta_username": user, "okta_password": "pw"}),
    )
}

pub fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["client_token"]
        .as_str()
        .expect("client_token")
        .to_owned()
}

#[track_caller]
pub fn expect_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.error_code(), code);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

#[track_caller]
pub fn fresh(r: &Resp) -> String {
    let j = r.json();
    let t = j["fresh_client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no fresh token: {j}"));
    assert_eq!(t.len(), 43);
    t.to_owned()
}
