//! The front door: what anonymous clients leave behind does not stay forever
//! (docs/keyservice.md, "Limits").

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test reports by failing

mod common;

use common::*;
use guest_kit::Request;
use keyservice_service::INIT;

#[test]
fn stale_init_rate_entries_of_every_address_are_removed() {
    let h = Harness::new();
    h.set_var("init_rate_limit_per_minute", "3");
    let from = |addr: &str| {
        h.call(
            INIT,
            Request::new("POST", "/init").with_header("spin-client-addr", addr),
        )
    };
    let rate_keys = || h.kv_keys("keyservice:init-rate:");
    for i in 1..=5 {
        assert_eq!(from(&format!("192.0.2.{i}:1000")).status, 200);
    }
    assert_eq!(from("[2001:db8::1]:1000").status, 200);
    assert_eq!(rate_keys().len(), 6);
    // Two minutes on, one new address: every other address's counter is gone.
    h.advance_secs(120);
    assert_eq!(from("198.51.100.7:1000").status, 200);
    let keys = rate_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // The limit itself still holds within a minute.
    for _ in 0..2 {
        assert_eq!(from("198.51.100.7:1000").status, 200);
    }
    from("198.51.100.7:1001").assert_error(429, "RATE_LIMITED");
}
