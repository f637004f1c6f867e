//! The test kit: one harness for every keyward test.
//!
//! - [`Reply`]: the one response wrapper (status, headers, body) with the error-shape assertions;
//! - [`secrets`]: the master key, tokens and clock start every harness uses;
//! - [`Driver`]: what a scenario runs against. [`NativeDriver`] runs the service crates
//!   in-process (real SQLite file, in-memory key-value store, variables, fake clock) for the
//!   component `spin.toml` routes a path to; keyward-e2e implements it over HTTP for a running
//!   host;
//! - [`audit`]: a service database's audit records and the check of its chain;
//! - [`scenarios`]: each written once as `fn(&dyn Driver)` and run by both drivers.
//!
//! Scenarios that move the clock or change variables stay native-only (in the service crates'
//! tests); those that restart hosts or start several stay HTTP-only (in keyward-e2e).

pub mod audit;
pub mod driver;
pub mod native;
pub mod reply;
pub mod routes;
pub mod scenarios;
pub mod secrets;
pub mod support;

pub use driver::Driver;
pub use native::{FakeClock, NativeDriver, Sandbox, ScriptedFetch, Vars, outbound_json};
pub use reply::Reply;
pub use routes::{Component, RouteTable};
pub use support::{assert_peak_below, object_flood, race};
