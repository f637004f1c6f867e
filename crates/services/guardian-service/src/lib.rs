//! guardian (guardian.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`], builds an [`Env`]
//! over its granted Spin resources and calls one entry point: [`handle_login`] (`guardian-login`),
//! [`handle_sign`] (`guardian-sign`, also the logout), [`handle_authorize`] (`guardian-admin`) or
//! [`handle_export`] (`guardian-export`). Outbound HTTP (Okta, the OIDC JWKS) goes through the
//! injected [`guest_kit::Fetch`] and the Okta poll waits on the injected [`guest_kit::Clock`], so
//! the login logic runs natively in tests against a fake identity provider.

#![forbid(unsafe_code)]

mod admin;
pub mod config;
mod cors;
mod error;
mod export;
mod identity;
mod keys;
mod limits;
mod login;
mod logout;
mod oidc;
mod okta;
pub mod policy;
mod ratelimit;
mod setup;
mod sign;
pub mod store;
mod tokens;
pub mod url;

use guest_kit::router::{self, Component, Params, Refusal, Route, Service};
use guest_kit::{ApiResult, Request, Response, RouteGroup};

pub use error::ApiError;
use error::Guardian as _;

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

/// `POST /guardian`, `POST /guardian/login`, `GET /guardian/openapi.json`, the setup page
/// (`GET /guardian/setup` and its files), and the 404 for any other `/guardian/...` path.
pub fn handle_login(env: &Env<'_>, req: Request) -> Response {
    // Login begins its transaction itself, once the identity provider has answered.
    handle(
        env,
        Guardian::in_handler(LOGIN_ROUTES).browser_facing(),
        &req,
    )
}

/// The enduser routes (docs/guardian.md, "Design: signing routes") and `POST /guardian/logout`
/// (docs/guardian.md, "Design: logout and revocation").
pub fn handle_sign(env: &Env<'_>, req: Request) -> Response {
    handle(env, Guardian::at_once(SIGN_ROUTES).browser_facing(), &req)
}

/// The maintainer's routes: `POST /guardian/authorize` (docs/guardian.md, "Design: authorize")
/// and `POST /guardian/revoke` (docs/guardian.md, "Design: logout and revocation").
pub fn handle_authorize(env: &Env<'_>, req: Request) -> Response {
    handle(env, Guardian::at_once(AUTHORIZE_ROUTES), &req)
}

/// `POST /guardian/export` (docs/guardian.md, "Design: export").
pub fn handle_export(env: &Env<'_>, req: Request) -> Response {
    handle(env, Guardian::at_once(EXPORT_ROUTES).browser_facing(), &req)
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

/// guardian's components as `spin.toml` declares them: their routes and route groups
/// (docs/platform.md, "Design: route tables").
pub const COMPONENTS: &[Component] = &[
    Component {
        id: "guardian-login",
        routes: &[
            "/guardian",
            "/guardian/login",
            OPENAPI_PATH,
            "/guardian/...",
        ],
        group: LOGIN,
    },
    Component {
        id: "guardian-sign",
        routes: &[
            "/guardian/sign",
            "/guardian/sign-tx",
            "/guardian/sign-message",
            "/guardian/sign-typed-data",
            "/guardian/sign-authorization",
            "/guardian/address",
            "/guardian/logout",
        ],
        group: SIGN,
    },
    Component {
        id: "guardian-admin",
        routes: &[
            "/guardian/authorize",
            "/guardian/revoke",
            "/guardian/policy",
            "/guardian/policy/user",
        ],
        group: AUTHORIZE,
    },
    Component {
        id: "guardian-export",
        routes: &["/guardian/export"],
        group: EXPORT,
    },
];

/// A route's code.
#[derive(Clone, Copy)]
pub(crate) struct Handler {
    run: fn(&Env<'_>, &Request) -> Result<Response, ApiError>,
}

/// A route whose body may be up to the `max_body_bytes` variable.
const fn route(
    pattern: &'static str,
    methods: &'static [&'static str],
    run: fn(&Env<'_>, &Request) -> Result<Response, ApiError>,
) -> Route<Handler> {
    Route::new(pattern, methods, Handler { run }).limit(|env, _| config::max_body_bytes(env))
}

/// A signing route (docs/guardian.md, "Design: signing routes").
macro_rules! sign {
    ($route:ident) => {
        |env, req| Ok(sign::handle(env, req, sign::Route::$route))
    };
}

// Every guardian route (docs/platform.md, "Design: route tables"), one table per component:
// a component's entry point names only its own table, so its `.wasm` links only its own
// routes' code (guardian-admin has no signing code), and another component's path is a plain
// 404 there.

/// guardian-login.
const LOGIN_ROUTES: &[Route<Handler>] = &[
    route("/guardian", &["POST"], login::run),
    route("/guardian/login", &["POST"], login::run),
    Route::new(
        OPENAPI_PATH,
        &["GET"],
        Handler {
            run: |_, _| Ok(Response::json_text(200, OPENAPI_JSON)),
        },
    ),
    // docs/guardian.md, "Design: setup page".
    Route::new("/guardian/setup", &["GET"], Handler { run: setup::page }),
    Route::new(
        "/guardian/setup/app.js",
        &["GET"],
        Handler { run: setup::script },
    ),
    Route::new(
        "/guardian/setup/style.css",
        &["GET"],
        Handler { run: setup::style },
    ),
    Route::new(
        "/guardian/setup/config",
        &["GET"],
        Handler {
            run: setup::settings,
        },
    ),
];

/// guardian-sign.
const SIGN_ROUTES: &[Route<Handler>] = &[
    route("/guardian/sign", &["GET"], sign!(SignGet)),
    route("/guardian/sign", &["POST"], sign!(SignPost)),
    route("/guardian/address", &["GET"], sign!(Address)),
    route("/guardian/sign-tx", &["POST"], sign!(SignTx)),
    route("/guardian/sign-message", &["POST"], sign!(SignMessage)),
    route("/guardian/sign-typed-data", &["POST"], sign!(SignTypedData)),
    route(
        "/guardian/sign-authorization",
        &["POST"],
        sign!(SignAuthorization),
    ),
    route("/guardian/logout", &["POST"], logout::run),
];

/// guardian-admin: it only changes settings and ends chains, so it links no signing code and
/// mints no token.
const AUTHORIZE_ROUTES: &[Route<Handler>] = &[
    route("/guardian/authorize", &["POST"], admin::run),
    route("/guardian/revoke", &["POST"], admin::revoke),
    // docs/guardian.md, "Design: signing policies".
    route(
        "/guardian/policy",
        &["GET", "PUT", "DELETE"],
        policy::deployment,
    ),
    route(
        "/guardian/policy/user",
        &["GET", "PUT", "DELETE"],
        policy::user,
    ),
];

/// guardian-export.
const EXPORT_ROUTES: &[Route<Handler>] = &[route("/guardian/export", &["POST"], export::run)];

/// guardian's part in dispatch: the routes of one component, how their transaction is run,
/// and guardian's words for 404, 405 (with `Allow`) and 413.
struct Guardian {
    routes: &'static [Route<Handler>],
    /// Whether a routed request runs as one transaction begun before its handler. Routes that
    /// call out (login) begin theirs themselves, after the call: a transaction held open across
    /// an outbound call would hold SQLite's write lock for as long as the provider takes.
    at_once: bool,
    /// Whether browsers may call it cross-origin (docs/guardian.md, "Design: CORS"): the
    /// enduser components, never the maintainer's.
    cors: bool,
}

impl Guardian {
    const fn at_once(routes: &'static [Route<Handler>]) -> Self {
        Self {
            routes,
            at_once: true,
            cors: false,
        }
    }

    const fn in_handler(routes: &'static [Route<Handler>]) -> Self {
        Self {
            routes,
            at_once: false,
            cors: false,
        }
    }

    const fn browser_facing(self) -> Self {
        Self { cors: true, ..self }
    }
}

impl Service for Guardian {
    type Handler = Handler;

    fn routes(&self) -> impl Iterator<Item = &'static Route<Handler>> {
        self.routes.iter()
    }

    fn call(
        &self,
        env: &Env<'_>,
        req: &Request,
        handler: &Handler,
        _: &Params,
    ) -> ApiResult<Response> {
        if !self.at_once {
            return (handler.run)(env, req);
        }
        Ok(transactional(env, || {
            (handler.run)(env, req).unwrap_or_else(ApiError::into_response)
        }))
    }

    fn refuse(&self, _env: &Env<'_>, refusal: Refusal<'_, Handler>) -> ApiError {
        match refusal {
            Refusal::NotFound => ApiError::not_found(),
            Refusal::MethodNotAllowed { allow, .. } => ApiError::method_not_allowed(&allow),
            Refusal::TooLarge { limit } | Refusal::InvalidContentLength { limit } => {
                ApiError::too_large(limit)
            }
        }
    }

    fn preflight(
        &self,
        env: &Env<'_>,
        req: &Request,
        _: Option<&Route<Handler>>,
    ) -> Option<Response> {
        if !self.cors {
            return None;
        }
        cors::preflight(env, req, self.routes)
    }
}

/// Every request is audited (docs/OPERATIONS.md, "Audit trail": a handler that names an action
/// leaves one record), and every response is `Cache-Control: no-store` (docs/guardian.md,
/// "Design: conventions"), the audit trail's own refusal included, as are the CORS headers of a
/// browser-facing component (docs/guardian.md, "Design: CORS").
fn handle(env: &Env<'_>, service: Guardian, req: &Request) -> Response {
    let browser_facing = service.cors;
    let resp = guest_kit::audit::audited("guardian", env, req, |env| {
        router::dispatch(&service, env, req)
    })
    .with_header("cache-control", "no-store");
    if browser_facing {
        cors::apply(env, req, resp)
    } else {
        resp
    }
}

/// One request's statements and its audit record form one transaction: the record commits with
/// the change it records. A 4xx keeps its writes (a consumed token stays consumed, so no token
/// authorises two operations); a 5xx rolls everything back, record included. guardian's tables
/// are created first, outside the transaction (on PostgreSQL a failed probe would abort it).
fn transactional(env: &Env<'_>, work: impl FnOnce() -> Response) -> Response {
    if let Err(e) = store::ensure(env.db) {
        return error::db_err(&e).into_response();
    }
    guest_kit::audit::atomically(env, work)
        .unwrap_or_else(|f| f.into_response(|e| error::db_err(&e)))
}

/// Largest identity-provider answer read (JWKS documents, Okta transactions).
pub const OUTBOUND_BODY_LIMIT: usize = 1024 * 1024;
