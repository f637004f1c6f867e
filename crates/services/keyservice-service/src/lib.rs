//! keyservice (keyservice.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`],
//! builds an [`Env`] over its granted Spin resources and calls its route group's entry point:
//! [`INIT`], [`CONNECT`], [`KEY`] or [`ADMIN`].
//! Native tests drive the same entry points with real SQLite and a fake clock.

#![forbid(unsafe_code)]

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
mod revocation;
mod store;
mod time;

use guest_kit::router::{self, Component, Params, Refusal, Route};
use guest_kit::{Request, Response, RouteGroup};

use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};

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

// The route groups as components declare them (`guest_kit::component!`).

/// `POST /init` (and `OPTIONS /init`, `GET /keyservice/openapi.json`).
pub const INIT: RouteGroup = small(|env, req| handle(env, Group::Init, INIT_ROUTES, &req));
/// `POST /connect`.
pub const CONNECT: RouteGroup = small(|env, req| handle(env, Group::Connect, CONNECT_ROUTES, &req));
/// `PUT/GET/DELETE /key` (and `OPTIONS /key`).
pub const KEY: RouteGroup = RouteGroup {
    body_limit: |env| body_read_limit(env, Group::Key),
    handle: |env, req| handle(env, Group::Key, KEY_ROUTES, &req),
};
/// `/admin/namespaces` and `/admin/namespaces/...`.
pub const ADMIN: RouteGroup = small(|env, req| handle(env, Group::Admin, ADMIN_ROUTES, &req));

/// A group whose routes all take at most [`SMALL_BODY_LIMIT`].
const fn small(handle: fn(&Env<'_>, Request) -> Response) -> RouteGroup {
    RouteGroup {
        body_limit: |_| SMALL_BODY_LIMIT,
        handle,
    }
}

/// keyservice's components as `spin.toml` declares them: their routes and route groups
/// (docs/platform.md, "Design: route tables").
pub const COMPONENTS: &[Component] = &[
    Component {
        id: "keyservice-init",
        routes: &["/init", OPENAPI_PATH],
        group: INIT,
    },
    Component {
        id: "keyservice-connect",
        routes: &["/connect"],
        group: CONNECT,
    },
    Component {
        id: "keyservice-key",
        routes: &["/key"],
        group: KEY,
    },
    Component {
        id: "keyservice-admin",
        routes: &["/admin/namespaces", "/admin/namespaces/..."],
        group: ADMIN,
    },
];

/// A route's code, and whether it is browser-facing (CORS: docs/keyservice.md, "Design: CORS").
#[derive(Clone, Copy)]
pub(crate) struct Handler {
    cors: bool,
    run: fn(&Env<'_>, &Request, &Params) -> ApiResult<Response>,
}

/// A route whose body may be up to [`SMALL_BODY_LIMIT`].
const fn route(
    pattern: &'static str,
    methods: &'static [&'static str],
    run: fn(&Env<'_>, &Request, &Params) -> ApiResult<Response>,
) -> Route<Handler> {
    let cors = false;
    Route::new(pattern, methods, Handler { cors, run }).limit(|_, _| Ok(SMALL_BODY_LIMIT))
}

/// The same route, browser-facing.
const fn cors(route: Route<Handler>) -> Route<Handler> {
    let handler = Handler {
        cors: true,
        ..route.handler
    };
    Route { handler, ..route }
}

/// An operator operation on what the path names (the namespace as received, a user id
/// percent-decoded, a session id as received).
macro_rules! admin {
    ($op:ident) => {
        |env, req, params| admin::operate(env, req, admin::Op::$op, params)
    };
}

// Every keyservice route (docs/platform.md, "Design: route tables"), one table per component:
// a component's entry point names only its own table, so its `.wasm` links only its own
// routes' code. Namespaces are taken as received (`=namespace`): their own validation refuses
// anything encoded. User ids are any UTF-8 (a `/`, `%` or space included), so the operator
// percent-encodes them and the router decodes them (`:user`); a segment that does not decode to
// UTF-8 matches no route.

/// keyservice-init.
const INIT_ROUTES: &[Route<Handler>] = &[
    Route::new(
        OPENAPI_PATH,
        &["GET"],
        Handler {
            cors: false,
            run: |_, _, _| Ok(Response::json_text(200, OPENAPI_JSON)),
        },
    ),
    cors(route("/init", &["POST"], |env, req, _| {
        init::post(env, req)
    })),
];

/// keyservice-connect.
const CONNECT_ROUTES: &[Route<Handler>] = &[route("/connect", &["POST"], |env, req, _| {
    connect::post(env, req)
})];

/// keyservice-key.
const KEY_ROUTES: &[Route<Handler>] =
    &[
        cors(route("/key", &["GET", "PUT", "DELETE"], |env, req, _| {
            key::authenticated(env, req)
        }))
        .limit(key::body_limit),
    ];

/// keyservice-admin.
const ADMIN_ROUTES: &[Route<Handler>] = &[
    route("/admin/namespaces", &["GET"], admin!(List)),
    route("/admin/namespaces", &["POST"], admin!(Create)),
    route("/admin/namespaces/=namespace", &["DELETE"], admin!(Delete)),
    route(
        "/admin/namespaces/=namespace/allowed-cidrs",
        &["PUT"],
        admin!(SetCidrs),
    ),
    route(
        "/admin/namespaces/=namespace/rotate-secret",
        &["POST"],
        admin!(Rotate),
    ),
    route(
        "/admin/namespaces/=namespace/sessions",
        &["DELETE"],
        admin!(RevokeNamespace),
    ),
    route(
        "/admin/namespaces/=namespace/users/:user",
        &["DELETE"],
        admin!(EraseUser),
    ),
    route(
        "/admin/namespaces/=namespace/users/:user/sessions",
        &["GET"],
        admin!(ListSessions),
    ),
    route(
        "/admin/namespaces/=namespace/users/:user/sessions",
        &["DELETE"],
        admin!(RevokeUser),
    ),
    route(
        "/admin/namespaces/=namespace/users/:user/sessions/=session",
        &["DELETE"],
        admin!(RevokeSession),
    ),
];

/// keyservice's part in dispatch: one component's routes, keyservice's words for 404, 405 and
/// 413, and CORS on the browser-facing routes (docs/keyservice.md, "Design: CORS").
struct Keyservice(&'static [Route<Handler>]);

impl router::Service for Keyservice {
    type Handler = Handler;

    fn routes(&self) -> impl Iterator<Item = &'static Route<Handler>> {
        self.0.iter()
    }

    fn call(&self, env: &Env<'_>, req: &Request, h: &Handler, p: &Params) -> ApiResult<Response> {
        (h.run)(env, req, p)
    }

    fn refuse(&self, env: &Env<'_>, refusal: Refusal<'_, Handler>) -> ApiError {
        match refusal {
            Refusal::NotFound => ApiError::not_found(),
            Refusal::MethodNotAllowed { route, allow } if cors_on(env, Some(route)) => {
                ApiError::method_not_allowed(&format!("{allow}, OPTIONS"))
            }
            Refusal::MethodNotAllowed { allow, .. } => ApiError::method_not_allowed(&allow),
            Refusal::TooLarge { .. } => ApiError::too_large(),
            Refusal::InvalidContentLength { .. } => ApiError::bad_request("invalid Content-Length"),
        }
    }

    fn preflight(
        &self,
        env: &Env<'_>,
        _: &Request,
        route: Option<&Route<Handler>>,
    ) -> Option<Response> {
        let route = route.filter(|r| cors_on(env, Some(r)))?;
        Some(cors::preflight(&route.methods.join(", ")))
    }

    fn finish(
        &self,
        env: &Env<'_>,
        req: &Request,
        route: Option<&Route<Handler>>,
        resp: Response,
    ) -> Response {
        if route.is_some_and(|r| r.handler.cors) {
            cors::apply(env, req, resp)
        } else {
            resp
        }
    }
}

/// Whether a browser-facing route answers preflights: CORS is configured.
fn cors_on(env: &Env<'_>, route: Option<&Route<Handler>>) -> bool {
    route.is_some_and(|r| r.handler.cors) && cors::enabled(env)
}

/// One request of `group` (served by `routes`), in one transaction, with the server's `Date`.
/// The operator API is refused whole while it is disabled, before routing.
fn handle(
    env: &Env<'_>,
    group: Group,
    routes: &'static [Route<Handler>],
    req: &Request,
) -> Response {
    let resp = guest_kit::audit::audited("keyservice", env, req, |env| {
        // Behind a trusted proxy the client is the one its header names (docs/keyservice.md).
        let header = config::client_addr_header(env);
        if let Some(addr) = net::client_address(req, header.as_deref()) {
            env.audit.client(&addr.to_string());
        }
        transactional(env, || {
            if group == Group::Admin
                && let Err(e) = admin::enabled(env)
            {
                return e.into_response();
            }
            router::dispatch(&Keyservice(routes), env, req)
        })
    });
    finish(env, resp)
}

/// Every request's statements form one transaction with its audit record (docs/OPERATIONS.md,
/// "Audit trail"): a `PUT /key` (nonce, session touch, value, record) costs one commit, not
/// four, and a storage failure part-way leaves nothing half-written. A 4xx keeps its writes (a
/// consumed init token or nonce stays consumed, as the spec requires); a 5xx rolls back.
fn transactional(env: &Env<'_>, handler: impl FnOnce() -> Response) -> Response {
    if let Err(e) = store::SCHEMA.ensure(env.db) {
        return error::storage(e).into_response();
    }
    guest_kit::audit::atomically(env, handler).unwrap_or_else(|f| f.into_response(error::storage))
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
