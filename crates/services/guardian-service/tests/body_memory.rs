//! The anonymous login body is decoded straight into its fields: the memory a request costs
//! stays near the body's size whatever it holds (docs/guardian.md, "Limits"). Its own test
//! binary, because the counting allocator is process-wide.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;

#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[test]
fn a_full_size_login_body_costs_little_more_than_itself() {
    let h = Harness::new();
    let limit = 262_144;
    let body = keyward_test_kit::object_flood(r#"{"okta_username":["#, limit);
    let req = Request::new("POST", "/guardian/login")
        .with_header("spin-client-addr", "127.0.0.1:4000")
        .with_body(body);
    let r = keyward_test_kit::assert_peak_below(1 << 20, "decoding a 256 KiB body", || {
        h.login_req(req)
    });
    assert_error(&r, 400, "BAD_REQUEST");
}
