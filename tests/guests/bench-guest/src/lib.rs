//! A test-only guest for `keyward-bench`. Routes (the bench mounts it at `/bench/...`):
//!
//! - `GET /bench/noop`: answers `ok` at once (per-request instantiation + routing cost).
//! - `GET /bench/<op>?n=<N>` with `op` = `secp256k1`, `account-sign`, `hd-sign`, `aes-gcm`,
//!   `hmac-sha512`, `audit-link` or `jwt-rs256` (a POST whose body is the token, a newline and the JWKS document):
//!   runs the operation N times and answers the elapsed nanoseconds as decimal text (timed from
//!   before any setup, so `n=1` is the whole cost of one operation in a fresh instance). The loops
//!   are `bench-ops`, the same code the native side runs (`bench/src/micro.rs`).

use std::time::Instant;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    let n: u64 = req
        .query()
        .split('&')
        .find_map(|kv| kv.strip_prefix("n="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let op = path.rsplit('/').next().unwrap_or_default();
    if op == "noop" {
        return Response::new(200, "ok");
    }
    let start = Instant::now();
    let Some(sink) = bench_ops::run(op, n, req.body()) else {
        return Response::new(404, "unknown op");
    };
    let elapsed = start.elapsed().as_nanos();
    Response::new(200, format!("{elapsed} {sink}"))
}
