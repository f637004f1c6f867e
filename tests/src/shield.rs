//! A shield client for tests that need its flows as building blocks (the shield suite, and the
//! multi-instance tests): an Openfort / JWKS stub, the product host configured for it, projects,
//! custom-provider users and encryption sessions.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};

use crate::{Host, HostBuilder, Resp, Stub, TEST_MASTER_KEY, Value, json, product_manifest};

pub const PK: &str = "pk_test_e2e";

pub fn rsa() -> TestSigner {
    TestSigner::new(Algorithm::RS256, "rsa-1")
}
pub fn es() -> TestSigner {
    TestSigner::new(Algorithm::ES256, "es-1")
}
pub fn ed() -> TestSigner {
    TestSigner::new(Algorithm::EdDSA, "ed-1")
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Openfort and JWKS stand-in: `/jwks/{rsa,es,ed}.json`, Openfort's `/iam/v1/{pk}/jwks.json`
/// (ES256), third-party (`id = "tp-" + token`) and get-session (`user.id = "sess-" + token`,
/// expired for the token `expired`).
pub fn stub() -> &'static Stub {
    static STUB: OnceLock<Stub> = OnceLock::new();
    STUB.get_or_init(|| {
        Stub::start(|req| {
            let reply = |status: u16, v: Value| (status, "application/json", v.to_string().into_bytes());
            let jwks = |signers: &[&TestSigner]| (200, "application/json", jwks_json(signers).into_bytes());
            match req.target.as_str() {
                "/jwks/rsa.json" => jwks(&[&rsa()]),
                "/jwks/es.json" => jwks(&[&es()]),
                "/jwks/ed.json" => jwks(&[&ed(), &es()]),
                t if t == format!("/iam/v1/{PK}/jwks.json") => jwks(&[&es()]),
                "/iam/v1/oauth/third_party" => {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    if req.header("authorization") != Some(&format!("Bearer {PK}")) {
                        return reply(401, json!({}));
                    }
                    reply(200, json!({"id": format!("tp-{}", body["token"].as_str().unwrap_or(""))}))
                }
                "/iam/v2/auth/get-session" => {
                    let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
                    let exp = if token == "expired" { now_s() - 10 } else { now_s() + 600 };
                    reply(200, json!({"session": {"expiresAt": rfc3339(exp)}, "user": {"id": format!("sess-{token}")}}))
                }
                _ => reply(404, json!({})),
            }
        })
    })
}

pub fn stub_base() -> String {
    format!("http://127.0.0.1:{}", stub().port)
}

pub fn builder() -> HostBuilder {
    HostBuilder::new(product_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_OPENFORT_BASE_URL", &stub_base())
        .env("SPIN_VARIABLE_SHIELD_JWKS_HOSTS", &stub_base())
        .env("SPIN_VARIABLE_RATE_LIMIT_REQUESTS", "0")
}

// ---------------------------------------------------------------------------------------------
// Clients

pub struct Project {
    pub id: String,
    pub key: String,
    pub secret: String,
    pub part: Option<String>,
}

pub fn register(h: &Host, with_key: bool) -> Project {
    let r = h.req(
        "POST",
        "/register",
        &[],
        Some(
            json!({"name": "e2e", "generate_encryption_key": with_key})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    Project {
        id: j["id"].as_str().expect("id").into(),
        key: j["api_key"].as_str().expect("key").into(),
        secret: j["api_secret"].as_str().expect("secret").into(),
        part: j["encryption_part"].as_str().map(str::to_owned),
    }
}

pub fn ps(h: &Host, p: &Project, method: &str, path: &str, body: Option<Value>) -> Resp {
    let b = body.map(|b| b.to_string());
    h.req(
        method,
        path,
        &[("X-API-Key", &p.key), ("X-API-Secret", &p.secret)],
        b.as_deref().map(str::as_bytes),
    )
}

// One argument per part of the request line, as the call sites read.
#[allow(clippy::too_many_arguments)]
pub fn user(
    h: &Host,
    p: &Project,
    provider: &str,
    token: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("X-API-Key", p.key.as_str()),
        ("X-Auth-Provider", provider),
        ("Authorization", auth.as_str()),
    ];
    headers.extend_from_slice(extra);
    let b = body.map(|b| b.to_string());
    h.req(method, path, &headers, b.as_deref().map(str::as_bytes))
}

/// Custom-provider user request (the common case).
pub fn cu(
    h: &Host,
    p: &Project,
    token: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    user(h, p, "custom", token, method, path, extra, body)
}

#[track_caller]
pub fn err(r: &Resp, status: u16, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(
        (j["code"].as_str(), j["message"].as_str()),
        (Some(code), Some(message)),
        "{j}"
    );
}

#[track_caller]
pub fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

pub fn pem_provider(h: &Host, p: &Project, signer: &TestSigner, key_type: &str) -> String {
    let r = ok(
        &ps(
            h,
            p,
            "POST",
            "/project/providers",
            Some(
                json!({"providers": {"custom": {"pem": signer.public_pem(), "key_type": key_type}}}),
            ),
        ),
        200,
    );
    r["providers"][0]["provider_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub fn tok(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": now_s() + 600}))
}

pub fn user_share(reference: Option<&str>) -> Value {
    let mut v = json!({"secret": "user-secret", "entropy": "user", "salt": "salt", "iterations": 1000, "length": 32, "digest": "SHA-256"});
    if let Some(r) = reference {
        v["reference"] = r.into();
    }
    v
}

pub fn project_share(reference: &str, part: Option<&str>, session: Option<&str>) -> Value {
    let mut v = json!({"secret": format!("secret-{reference}"), "entropy": "project", "reference": reference});
    if let Some(x) = part {
        v["encryption_part"] = x.into();
    }
    if let Some(x) = session {
        v["encryption_session"] = x.into();
    }
    v
}

pub fn session(h: &Host, p: &Project, part: &str) -> String {
    ok(
        &ps(
            h,
            p,
            "POST",
            "/project/encryption-session",
            Some(json!({"encryption_part": part})),
        ),
        200,
    )["session_id"]
        .as_str()
        .expect("session")
        .to_owned()
}
