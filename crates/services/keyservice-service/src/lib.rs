//! keyservice (keyservice.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`],
//! builds an [`Env`] over its granted Spin resources and calls one entry point:
//! [`handle_init`], [`handle_connect`], [`handle_key`] or [`handle_admin`].
//! Native tests drive the same entry points with real SQLite and a fake clock.

#![forbid(unsafe_code)]
// Request paths must never panic; unit tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod admin;
mod auth;
mod body;
mod config;
mod connect;
mod cors;
mod crypto;
mod error;
mod init;
mod key;
mod limits;
mod net;
mod store;
mod time;

use guest_kit::{Request, Response, RouteGroup};

pub use config::{DEFAULT_MAX_KEY_BYTES, SMALL_BODY_LIMIT, VARIABLES};
pub use net::{Cidr, client_address, parse_cidr};

/// The OpenAPI 3.1 description of the keyservice routes, served by the init
/// component at [`OPENAPI_PATH`].
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");
/// Where the init component serves [`OPENAPI_JSON`].
pub const OPENAPI_PATH: &str = "/keyservice/openapi.json";

/// What a request may use: the platform's one [`guest_kit::Env`].
pub use guest_kit::Env;

/// How many body bytes a component should read before handing the request
/// over: one more than the largest limit of its routes is enough to answer
/// 413, and nothing larger is ever buffered.
pub fn body_read_limit(env: &Env<'_>, group: Group) -> usize {
    match group {
        Group::Key => config::max_key_bytes(env)
            .unwrap_or(DEFAULT_MAX_KEY_BYTES)
            .max(SMALL_BODY_LIMIT),
        Group::Init | Group::Connect | Group::Admin => SMALL_BODY_LIMIT,
    }
}

/// The four route groups (one component each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Init,
    Connect,
    Key,
    Admin,
}

/// `POST /init` (and `OPTIONS /init`, `GET /keyservice/openapi.json`).
pub fn handle_init(env: &Env<'_>, req: Request) -> Response {
    finish(env, transactional(env, || init::handle(env, &req)))
}

/// `POST /connect`.
pub fn handle_connect(env: &Env<'_>, req: Request) -> Response {
    finish(env, transactional(env, || connect::handle(env, &req)))
}

/// `PUT/GET/DELETE /key` (and `OPTIONS /key`).
pub fn handle_key(env: &Env<'_>, req: Request) -> Response {
    finish(env, transactional(env, || key::handle(env, &req)))
}

/// `/admin/namespaces` and `/admin/namespaces/...`.
pub fn handle_admin(env: &Env<'_>, req: Request) -> Response {
    finish(env, transactional(env, || admin::handle(env, &req)))
}

/// The route groups as components declare them (`guest_kit::component!`).
pub const INIT: RouteGroup = small(handle_init);
pub const CONNECT: RouteGroup = small(handle_connect);
pub const KEY: RouteGroup = RouteGroup {
    body_limit: |env| body_read_limit(env, Group::Key),
    handle: handle_key,
};
pub const ADMIN: RouteGroup = small(handle_admin);

/// A group whose routes all take at most [`SMALL_BODY_LIMIT`].
const fn small(handle: fn(&Env<'_>, Request) -> Response) -> RouteGroup {
    RouteGroup {
        body_limit: |_| SMALL_BODY_LIMIT,
        handle,
    }
}

/// Every request's statements form one transaction: a `PUT /key` (nonce, session touch, value)
/// costs one commit, not three, and a storage failure part-way leaves nothing half-written. A
/// 4xx keeps its writes (a consumed init token or nonce stays consumed, as the spec requires);
/// a 5xx rolls back.
fn transactional(env: &Env<'_>, handler: impl FnOnce() -> Response) -> Response {
    if let Err(e) = store::SCHEMA.ensure(env.db) {
        return error::storage(e).into_response();
    }
    guest_kit::transaction(env.db, handler, |resp| resp.status < 500)
        .unwrap_or_else(|e| error::storage(e).into_response())
}

/// Every response carries the server's `Date` so clients can see clock skew
/// (docs/keyservice.md, "Design: conventions").
fn finish(env: &Env<'_>, resp: Response) -> Response {
    let secs = u64::try_from(env.now_ms.div_euclid(1000)).unwrap_or(0);
    match sessionist::format_http_date(secs) {
        Some(date) => resp.with_header("date", &date),
        None => resp,
    }
}
