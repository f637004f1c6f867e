//! The anonymous login body is decoded straight into its fields: the memory a request costs
//! stays near the body's size whatever it holds (docs/guardian.md, "Limits"). Its own test
//! binary, because the counting allocator is process-wide.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use guest_kit::Request;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = h.login_req(req);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert_error(&r, 400, "BAD_REQUEST");
    assert!(
        peak < 1024 * 1024,
        "decoding a 256 KiB body took {} KiB",
        peak / 1024
    );
}
