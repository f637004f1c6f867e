//! Loopback HTTP/1.1 for the end-to-end tests and the bench: a stub server that stands in for an
//! external service (identity providers, JWKS endpoints), the message reader it shares with the
//! bench's small client, and where the repository and its build output are.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The repository root (this crate lives at `crates/testing/<name>`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(3).unwrap_or(here).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` under the repository root.
pub fn target_dir() -> PathBuf {
    // A relative CARGO_TARGET_DIR is relative to where cargo ran: the workspace root, as
    // `cargo xtask` runs it (tests themselves run in their package's directory).
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| repo_root().join(d))
        .unwrap_or_else(|| repo_root().join("target"))
}

/// One HTTP/1.1 message with a `content-length` body (or none).
#[derive(Debug, Clone)]
pub struct Message {
    /// The request line or the status line.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one message; `None` when the connection ends before the head does. A body cut short
/// is returned as far as it came.
pub fn read_message(stream: &mut TcpStream) -> Option<Message> {
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
    let mut lines = head.split("\r\n");
    let start_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Message {
        start_line,
        headers,
        body,
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parsed request as a stub server sees it.
#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// What a stub answers: status, content type, body.
pub type StubReply = (u16, &'static str, Vec<u8>);

/// A minimal HTTP/1.1 server on 127.0.0.1 standing in for an external service. One request per
/// connection; runs until the process ends. Every request it answered is kept in `requests`.
pub struct Stub {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<StubRequest>>>,
}

impl Stub {
    pub fn start(handler: impl Fn(&StubRequest) -> StubReply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("stub addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                let seen = seen.clone();
                std::thread::spawn(move || answer(stream, &*handler, &seen));
            }
        });
        Stub { port, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn answer(
    mut stream: TcpStream,
    handler: &(dyn Fn(&StubRequest) -> StubReply + Send + Sync),
    seen: &Mutex<Vec<StubRequest>>,
) {
    let Some(message) = read_message(&mut stream) else {
        return;
    };
    let mut first = message.start_line.split(' ');
    let req = StubRequest {
        method: first.next().unwrap_or_default().to_string(),
        target: first.next().unwrap_or_default().to_string(),
        headers: message.headers,
        body: message.body,
    };
    let (status, content_type, reply) = handler(&req);
    if let Ok(mut s) = seen.lock() {
        s.push(req);
    }
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_records_a_request() {
        let stub = Stub::start(|req| (201, "text/plain", req.body.clone()));
        let mut stream = TcpStream::connect(("127.0.0.1", stub.port)).expect("connect");
        stream
            .write_all(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi")
            .expect("write");
        let reply = read_message(&mut stream).expect("reply");
        assert_eq!(reply.start_line, "HTTP/1.1 201 X");
        assert_eq!(reply.body, b"hi");
        let seen = stub.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].target, "/x");
        assert_eq!(seen[0].header("x-a"), Some("b"));
        assert!(repo_root().join("Cargo.toml").exists());
    }
}
