//! guardian (guardian.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`], builds an [`Env`]
//! over its granted Spin resources and calls one entry point: [`handle_login`] (`guardian-login`),
//! [`handle_sign`] (`guardian-sign`), [`handle_authorize`] (`guardian-admin`) or
//! [`handle_export`] (`guardian-export`). Outbound HTTP (Okta, the OIDC JWKS) goes through the
//! injected [`guest_kit::Fetch`] and the Okta poll waits on the injected [`guest_kit::Clock`], so
//! the login logic runs natively in tests against a fake identity provider.

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

use guest_kit::{Request, Response, RouteGroup};

pub use error::ApiError;

/// The OpenAPI 3.1 description of the guardian routes, served by `guardian-login` at
/// [`OPENAPI_PATH`].
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");
/// Where [`OPENAPI_JSON`] is served.
pub const OPENAPI_PATH: &str = "/guardian/openapi.json";

/// What a request may use: the platform's one [`guest_kit::Env`]; login is the only group
/// with `kv` and `fetch` (outbound HTTP to the identity providers).
pub use guest_kit::Env;

/// How many body bytes a component should read (one more than the limit, to answer 413).
pub fn body_read_limit(env: &Env<'_>) -> usize {
    // An invalid value is answered 503 by the handler, which reads it again.
    config::max_body_bytes(env).unwrap_or(config::MAX_BODY_BYTES.default as usize)
}

/// `POST /guardian`, `POST /guardian/login`, `GET /guardian/openapi.json`, and the 404 for any
/// other `/guardian/...` path.
pub fn handle_login(env: &Env<'_>, req: Request) -> Response {
    finish(login::handle(env, &req))
}

/// The enduser routes (docs/guardian.md, "Design: signing routes").
pub fn handle_sign(env: &Env<'_>, req: Request) -> Response {
    finish(sign::handle(env, &req))
}

/// `POST /guardian/authorize` (docs/guardian.md, "Design: authorize").
pub fn handle_authorize(env: &Env<'_>, req: Request) -> Response {
    finish(admin::handle(env, &req))
}

/// `POST /guardian/export` (docs/guardian.md, "Design: export").
pub fn handle_export(env: &Env<'_>, req: Request) -> Response {
    finish(export::handle(env, &req))
}

/// The route groups as components declare them (`guest_kit::component!`).
pub const LOGIN: RouteGroup = group(handle_login);
pub const SIGN: RouteGroup = group(handle_sign);
pub const AUTHORIZE: RouteGroup = group(handle_authorize);
pub const EXPORT: RouteGroup = group(handle_export);

const fn group(handle: fn(&Env<'_>, Request) -> Response) -> RouteGroup {
    RouteGroup {
        body_limit: body_read_limit,
        handle,
    }
}

/// Largest identity-provider answer read (JWKS documents, Okta transactions).
pub const OUTBOUND_BODY_LIMIT: usize = 1024 * 1024;

/// docs/guardian.md, "Design: conventions": every response is `Cache-Control: no-store`.
fn finish(resp: Response) -> Response {
    resp.with_header("cache-control", "no-store")
}
