//! guardian (guardian.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`], builds an [`Env`]
//! over its granted Spin resources and calls one entry point: [`handle_login`] (`guardian-login`),
//! [`handle_sign`] (`guardian-sign`), [`handle_authorize`] (`guardian-admin`) or
//! [`handle_export`] (`guardian-export`). Outbound HTTP (Okta, the OIDC JWKS) goes through the
//! injected [`Outbound`] so the login logic runs natively in tests against a fake identity
//! provider.

#![forbid(unsafe_code)]
// Request paths must never panic; unit tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod admin;
pub mod config;
mod error;
mod export;
mod keys;
mod limits;
mod login;
mod oidc;
mod okta;
mod ratelimit;
mod sign;
pub mod store;
mod tokens;
pub mod url;

use guest_kit::{Db, Kv, Request, Response};

pub use error::ApiError;

/// The OpenAPI 3.1 description of the guardian routes, served by `guardian-login` at
/// [`OPENAPI_PATH`].
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");
/// Where [`OPENAPI_JSON`] is served.
pub const OPENAPI_PATH: &str = "/guardian/openapi.json";

/// An outbound HTTP request (to the identity provider).
#[derive(Clone, PartialEq, Eq)]
pub struct OutRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bound for the whole exchange (connect, first byte, between bytes).
    pub timeout_ms: u64,
}

// Bodies carry passwords and headers carry API tokens: `Debug` shows neither.
impl std::fmt::Debug for OutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why an outbound request produced no response (all map to 502 `IDP_UNAVAILABLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutError {
    /// The host refused the destination (`allowed_outbound_hosts`).
    Denied,
    Timeout,
    Other(String),
}

/// Outbound HTTP plus the two clock facilities the Okta push poll needs. The wasm
/// implementation lives in the `guardian-login` component; tests pass a fake.
pub trait Outbound {
    fn send(&self, req: &OutRequest) -> Result<OutResponse, OutError>;
    /// Blocks for `ms` milliseconds.
    fn sleep_ms(&self, ms: u64);
    /// A monotonic clock in milliseconds (for the MFA bound).
    fn monotonic_ms(&self) -> u64;
}

/// What a request may use: storage, configuration, the clock and (login only) the network.
pub struct Env<'a> {
    /// The `guardian` SQLite database.
    pub db: &'a dyn Db,
    /// The `guardian` key-value store (rate-limit counters, JWKS cache): login only.
    pub kv: Option<&'a dyn Kv>,
    /// Spin variable lookup (`None` = undefined).
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// Server time for this request, unix milliseconds.
    pub now_ms: i64,
    /// Outbound HTTP: login only.
    pub outbound: Option<&'a dyn Outbound>,
}

/// How many body bytes a component should read (one more than the limit, to answer 413).
pub fn body_read_limit(env: &Env<'_>) -> usize {
    config::max_body_bytes(env)
}

/// `POST /guardian`, `POST /guardian/login`, `GET /guardian/openapi.json`, and the 404 for any
/// other `/guardian/...` path.
pub fn handle_login(env: &Env<'_>, req: Request) -> Response {
    finish(login::handle(env, &req))
}

/// The enduser routes (§6).
pub fn handle_sign(env: &Env<'_>, req: Request) -> Response {
    finish(sign::handle(env, &req))
}

/// `POST /guardian/authorize` (§7).
pub fn handle_authorize(env: &Env<'_>, req: Request) -> Response {
    finish(admin::handle(env, &req))
}

/// `POST /guardian/export` (§8).
pub fn handle_export(env: &Env<'_>, req: Request) -> Response {
    finish(export::handle(env, &req))
}

/// §2: every response is `Cache-Control: no-store`.
fn finish(resp: Response) -> Response {
    resp.with_header("cache-control", "no-store")
}
