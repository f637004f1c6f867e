//! The identity-provider stand-ins the shield and guardian scenarios need, in the bench process,
//! speaking the real wire format over loopback HTTP/1.1 (one request per connection):
//!
//! - `GET /jwks.json`: a JWKS document with the public key of [`signer`] (shield's custom
//!   provider in JWKS mode);
//! - `POST /api/v1/authn`: Okta's Authentication API answering `SUCCESS` for any username, with
//!   the user id `00u<username>` (guardian's Okta login).
//!
//! Both services cache or call these only outside the measured loops (the JWKS document is cached
//! in the key-value store; Okta is called at login, during setup), so the stub's own speed does
//! not enter the figures.
//!
//! Also the native baseline's outbound HTTP client ([`send`]), a blocking HTTP/1.1 client for
//! `http://` URLs, used where the components use wasi-http.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use loopback_stub::{Stub, StubReply, StubRequest, read_message};
use serde_json::{Value, json};

/// The custom provider's signing key (RS256, as most hosted identity providers use).
pub fn signer() -> TestSigner {
    TestSigner::new(Algorithm::RS256, "bench-rsa")
}

/// Starts the stub on 127.0.0.1; returns its base URL (`http://127.0.0.1:PORT`). Runs until the
/// process ends.
pub fn start() -> String {
    let jwks = jwks_json(&[&signer()]).into_bytes();
    Stub::start(move |req| answer(req, &jwks)).base_url()
}

fn answer(req: &StubRequest, jwks: &[u8]) -> StubReply {
    let (status, reply) = match (req.method.as_str(), req.target.as_str()) {
        ("GET", "/jwks.json") => (200, jwks.to_vec()),
        ("POST", "/api/v1/authn") => {
            let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let user = v["username"].as_str().unwrap_or_default();
            let answer = json!({"status": "SUCCESS", "sessionToken": "s",
                "_embedded": {"user": {"id": format!("00u{user}")}}});
            (200, answer.to_string().into_bytes())
        }
        _ => (404, b"{}".to_vec()),
    };
    (status, "application/json", reply)
}

/// Blocking HTTP/1.1 request to an `http://host:port/path` URL; returns (status, body).
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout_ms: u64,
) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
    let timeout = Some(Duration::from_millis(if timeout_ms == 0 {
        30_000
    } else {
        timeout_ms
    }));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| e.to_string())?;
    let reply = read_message(&mut stream).ok_or_else(|| "no response".to_string())?;
    let status = reply
        .start_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "bad status line".to_string())?;
    Ok((status, reply.body))
}
