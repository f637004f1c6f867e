//! A JSON body is decoded straight into its typed structure: the guest memory a request costs
//! stays near the body's size whatever the body holds (docs/shield.md, "Limits"). Its own test
//! binary, because the counting allocator is process-wide.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use guest_kit::Request;
use shield_service::BODY_LIMIT;

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
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = h.call(req);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    r.ok(201);
    assert!(
        peak < 4 * 1024 * 1024,
        "decoding a 1 MiB body took {} KiB",
        peak / 1024
    );
}
