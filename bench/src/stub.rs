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

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, jwks_json};
use serde_json::{Value, json};

/// The custom provider's signing key (RS256, as most hosted identity providers use).
pub fn signer() -> TestSigner {
    TestSigner::new(Algorithm::RS256, "bench-rsa")
}

/// Starts the stub on 127.0.0.1; returns its base URL (`http://127.0.0.1:PORT`). Runs until the
/// process ends.
pub fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("stub addr").port()
    );
    let jwks = jwks_json(&[&signer()]).into_bytes();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let jwks = jwks.clone();
            std::thread::spawn(move || serve_one(stream, &jwks));
        }
    });
    base
}

fn serve_one(mut stream: TcpStream, jwks: &[u8]) {
    let Some((head, body)) = read_message(&mut stream) else {
        return;
    };
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default();
    let target = first.next().unwrap_or_default();
    let (status, reply) = match (method, target) {
        ("GET", "/jwks.json") => (200, jwks.to_vec()),
        ("POST", "/api/v1/authn") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let user = v["username"].as_str().unwrap_or_default();
            let answer = json!({"status": "SUCCESS", "sessionToken": "s",
                "_embedded": {"user": {"id": format!("00u{user}")}}});
            (200, answer.to_string().into_bytes())
        }
        _ => (404, b"{}".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply);
}

/// Reads one HTTP/1.1 message with a `content-length` body (or none): (head, body).
fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, body))
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
    let (head, body) = read_message(&mut stream).ok_or_else(|| "no response".to_string())?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "bad status line".to_string())?;
    Ok((status, body))
}
