//! A closed-loop HTTP/1.1 keep-alive load generator: N clients, each with one connection, each
//! sending its next request as soon as the previous response is read; bounded by time and count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;

use crate::io::Io;

/// One request to send.
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(Io(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Conn {
            sender,
            host: addr.to_string(),
        }
    }

    /// Sends `req`; returns the status and the body.
    pub async fn send(&mut self, req: Req) -> (u16, Vec<u8>) {
        let mut b = hyper::Request::builder()
            .method(req.method)
            .uri(&req.path)
            .header("host", &self.host);
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        let request = b.body(Full::new(Bytes::from(req.body))).expect("request");
        self.sender.ready().await.expect("connection ready");
        let resp = self.sender.send_request(request).await.expect("send");
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, body)
    }
}

/// One request/response on a fresh connection.
pub async fn once(addr: SocketAddr, req: Req) -> (u16, Vec<u8>) {
    Conn::open(addr).await.send(req).await
}

pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Sorted latencies of successful requests, microseconds.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i])
    }
}

/// Runs `clients` closed-loop clients against `addr` for `duration` or `max_requests`, whichever
/// comes first. `make(client, seq)` builds each request (signing happens here, inside the loop);
/// `observe(client, status, body)` sees every response before that client's next request (token
/// chains); a response with a status other than `expect` counts as an error.
pub async fn run<F, O>(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    expect: u16,
    make: F,
    observe: O,
) -> Outcome
where
    F: Fn(usize, u64) -> Req + Send + Sync + 'static,
    O: Fn(usize, u16, &[u8]) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let observe = Arc::new(observe);
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let make = make.clone();
        let observe = observe.clone();
        let issued = issued.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut lat = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let req = make(client, seq);
                seq += 1;
                let t = Instant::now();
                let (status, body) = conn.send(req).await;
                let us = t.elapsed().as_micros();
                observe(client, status, &body);
                if status == expect {
                    lat.push(u32::try_from(us).unwrap_or(u32::MAX));
                } else {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!(
                            "unexpected status {status}: {}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.expect("client task"));
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    Outcome {
        ok: latencies_us.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
    }
}
