//! The keyservice scenarios of the test kit, run natively: the service crate in-process with a
//! real SQLite file and a fake clock (keyward-e2e runs the same ones over HTTP).

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use keyward_test_kit::NativeDriver;
use keyward_test_kit::scenarios::keyservice::{DB, SETTINGS};

/// keyservice sets `Date` on every answer itself (docs/keyservice.md, "Design: conventions");
/// over HTTP the host would add one anyway, so the native run is where a missing one shows.
fn driver() -> Box<NativeDriver> {
    Box::new(NativeDriver::new(DB, SETTINGS).requiring_header("date"))
}

keyward_test_kit::keyservice_scenario_tests!(driver());
