//! The test kit's scenarios over HTTP: the real `spin.toml` and components served by
//! `keyward serve` on 127.0.0.1 (the service crates run the same scenarios natively).

use std::sync::{Arc, Mutex, Weak};

use keyward_e2e::{Host, HostBuilder, TEST_MASTER_KEY, product_manifest};
use keyward_test_kit::scenarios::keyservice::SETTINGS;

/// One host for every scenario running concurrently, with the scenarios' settings; it stops
/// when the last test drops it (only a `Weak` is kept here).
fn keyservice_host() -> Arc<Host> {
    static SHARED: Mutex<Weak<Host>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = slot.upgrade() {
        return host;
    }
    let mut b =
        HostBuilder::new(product_manifest()).env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY);
    for (name, value) in SETTINGS {
        b = b.env(
            &format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    let host = Arc::new(b.start());
    *slot = Arc::downgrade(&host);
    host
}

keyward_test_kit::scenario_tests!(keyservice, keyservice_host();
    whole_flow,
    init_tokens_are_distinct_and_sealed,
    concurrent_connects_one_wins,
    connect_validation,
    routing_and_body_limits,
    openapi_is_served,
    ss1_header_rules,
);
