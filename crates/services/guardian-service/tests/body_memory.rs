//! The anonymous login body is decoded straight into its fields: the memory a request costs
//! stays near the body's size whatever it holds (docs/guardian.md, "Limits"). Its own test
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

#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[test]
fn a_full_size_login_body_costs_little_more_than_itself() {
    let h = Harness::new();
    let limit = 262_144;
    // `{}` is the cheapest JSON text that becomes a heap object in a generic value.
    let mut body = String::from(r#"{"okta_username":["#);
    while body.len() < limit - 8 {
        body.push_str("{},");
    }
    body.push_str("{}]}");
    assert!(body.len() <= limit);
    let req = Request::new("POST", "/guardian/login")
        .with_header("spin-client-addr", "127.0.0.1:4000")
        .with_body(body);
    let (r, peak) = peak_alloc::peak_during(|| h.login_req(req));
    assert_error(&r, 400, "BAD_REQUEST");
    assert!(
        peak < 1024 * 1024,
        "decoding a 256 KiB body took {} KiB",
        peak / 1024
    );
}
