//! A JSON body is decoded straight into its typed structure: the guest memory a request costs
//! stays near the body's size whatever the body holds (docs/shield.md, "Limits"). Its own test
//! binary, because the counting allocator is process-wide.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

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
    let body = keyward_test_kit::object_flood(r#"{"name":"p","junk":["#, BODY_LIMIT);
    let req = Request::new("POST", "/register").with_body(body);
    let r = keyward_test_kit::assert_peak_below(4 << 20, "decoding a 1 MiB body", || h.call(req));
    r.ok(201);
}
