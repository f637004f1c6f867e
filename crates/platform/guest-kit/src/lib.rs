//! guest-kit: the platform every keyward service builds on; it holds no service logic.
//!
//! - [`Env`]: what one request may use (database, key-value store, variables, outbound
//!   [`Fetch`], [`Clock`], the request's wall-clock time), built from a component's grants;
//! - [`ApiError`]: the `{"message","code"}` error of every service (each adds its own codes);
//! - [`config`]: typed variables, one policy for invalid values (docs/configuration.md);
//! - [`audit`]: the request's audit record, written in the same transaction as its action
//!   ([`audit::atomically`]);
//! - [`ratelimit`]: the fixed-window rate limiter, failing open or closed by parameter;
//! - [`net`]: client addresses, CIDR blocks, the client behind trusted proxies;
//! - [`cors`]: CORS over an allow list of origins (matching, `Vary`, the preflight's answer);
//! - [`component!`]: a component's entry point from its [`RouteGroup`] and grants;
//! - [`router`]: each service's route table and components table, and the one dispatch that
//!   decides 404, 405, the preflight's place and 413 (docs/platform.md, "Design: route tables");
//! - the storage seams ([`sql::Db`], [`kv::Kv`], [`Schema`], [`transaction`]) and plain HTTP
//!   types ([`Request`], [`Response`], [`OutboundRequest`]).
//!
//! Service cores are written against these so that they can be tested natively against real
//! storage. The `spin` module (wasm only) adapts them to spin-sdk 5.2; the `native` module
//! (feature `native-sqlite`) provides a real SQLite backend for native tests.

#![forbid(unsafe_code)]

pub mod audit;
pub mod component;
pub mod config;
pub mod cors;
pub mod env;
pub mod error;
pub mod http;
pub mod kv;
pub mod net;
pub mod ratelimit;
pub mod router;
pub mod sql;
pub mod time;

#[cfg(target_arch = "wasm32")]
pub mod spin;

#[cfg(feature = "native-sqlite")]
pub mod native;

pub use component::RouteGroup;
pub use env::{Clock, Env, SystemClock};
pub use error::{ApiError, ApiResult, respond};
pub use http::{Fetch, FetchError, OutboundRequest, OutboundResponse, Request, Response};
pub use kv::{Kv, KvError, MemoryKv};
pub use sql::{Db, DbError, Row, Rows, Schema, Value, transaction};

/// Wall-clock time as unix milliseconds (0 if the clock is before 1970).
/// Components read it once per request and hand it to the core.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}
