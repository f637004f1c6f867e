//! A shield client for tests that need its flows as building blocks (the shield suite, and the
//! multi-instance tests): an Openfort / JWKS stub, the product host configured for it, projects,
//! custom-provider users and encryption sessions.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};

use keyward_test_kit::scenarios::shield::Done as _;

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

/// `secs` (unix) as RFC 3339, as Openfort writes a session's expiry.
fn rfc3339(secs: u64) -> String {
    guest_kit::time::rfc3339(i64::try_from(secs).expect("secs") * 1000)
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
// Clients: the test kit's shield clients, under the names the multi-instance tests use.

pub use keyward_test_kit::scenarios::shield::{Project, project_share, register};

/// A project request to `h` (the project may come from another host on the same database).
pub fn ps(h: &Host, p: &Project, method: &str, path: &str, body: Option<Value>) -> Resp {
    p.on(h).send(method, path, body.as_ref())
}

/// A custom-provider user request to `h`; `extra` headers after the identity ones.
pub fn cu(
    h: &Host,
    p: &Project,
    token: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let user = p.on(h);
    user.custom(token)
        .headers(extra)
        .send(method, path, body.as_ref())
}

/// A JSON success with `status` (`Null` for an empty body).
#[track_caller]
pub fn ok(r: &Resp, status: u16) -> Value {
    r.done(status)
}

/// Configures `p`'s CUSTOM provider in PEM mode with `signer`'s key; returns its id.
pub fn pem_provider(h: &Host, p: &Project, signer: &TestSigner, key_type: &str) -> String {
    let custom = json!({"pem": signer.public_pem(), "key_type": key_type});
    let r = ps(
        h,
        p,
        "POST",
        "/project/providers",
        Some(json!({"providers": {"custom": custom}})),
    );
    r.done(200)["providers"][0]["provider_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub fn tok(s: &TestSigner, sub: &str) -> String {
    s.sign(&json!({"sub": sub, "exp": now_s() + 600}))
}

/// A new encryption session for `part`.
pub fn session(h: &Host, p: &Project, part: &str) -> String {
    p.on(h).session(part)
}
