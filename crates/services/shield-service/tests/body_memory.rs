//! A JSON body is decoded straight into its typed structure: the guest memory a request costs
//! stays near the body's size whatever the body holds (docs/shield.md, "Limits"). Its own test
//! binary, because the counting allocator is process-wide.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test reports by failing

mod common;

use common::*;
use guest_kit::Request;
use shield_service::BODY_LIMIT;

#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[test]
fn a_1_mib_body_costs_a_few_mib_at_most() {
    let h = Harness::new();
    // Warm up: schema, statement caches.
    h.call(Request::new("GET", "/storage-methods")).ok(200);
    // `{}` is the cheapest JSON text that becomes a heap object in a generic value.
    let mut body = String::from(r#"{"name":"p","junk":["#);
    while body.len() < BODY_LIMIT - 8 {
        body.push_str("{},");
    }
    body.push_str("{}]}");
    assert!(body.len() <= BODY_LIMIT);
    let req = Request::new("POST", "/register").with_body(body);
    let (r, peak) = peak_alloc::peak_during(|| h.call(req));
    r.ok(201);
    assert!(
        peak < 4 * 1024 * 1024,
        "decoding a 1 MiB body took {} KiB",
        peak / 1024
    );
}
