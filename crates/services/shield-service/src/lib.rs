//! keyward **shield** (shield.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`], builds an
//! [`Env`] over its granted Spin resources and calls [`handle`] with its [`Group`]. Native tests
//! drive the same entry point with real SQLite, an in-memory key-value store, a fake clock and an
//! in-memory [`guest_kit::Fetch`].
//!
//! Per request: X-Request-ID and CORS (docs/shield.md, "Design: transport") → routing over [`ROUTES`] (404/405; docs/platform.md, "Design: route tables") → auth (docs/shield.md, "Design: authentication", with
//! the rate limit of docs/shield.md, "Design: rate limit") → the route (docs/shield.md, "Design: routes") → `Content-Type: application/json` on every answer.
//!
//! Every request has an audit trail (docs/OPERATIONS.md, "Audit trail"): a handler names its
//! action and the actor, and the record is written in the request's transaction
//! ([`guest_kit::audit::Transaction`]), or on its own for a request refused before the
//! transaction began.

#![forbid(unsafe_code)]

mod admin;
mod auth;
mod config;
mod error;
mod identity;
mod limits;
mod otp;
mod project;
mod shares;
mod store;
mod ua;
mod util;

use guest_kit::audit::Transaction;
use guest_kit::router::{self, Component, Params, Refusal, Route, Service};
use guest_kit::{Request, Response, RouteGroup};

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

/// The OpenAPI 3.1 description of the shield routes, served at [`OPENAPI_PATH`].
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");
/// Where the project component serves [`OPENAPI_JSON`].
pub const OPENAPI_PATH: &str = "/shield/openapi.json";

/// Largest request body read (bytes). Shares are small; 1 MiB leaves room for bulk requests.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest outbound response body (JWKS, Openfort answers).
pub const OUTBOUND_BODY_LIMIT: usize = 256 * 1024;
/// Outbound call timeout (docs/shield.md, "Design: identity providers").
pub const OUTBOUND_TIMEOUT_MS: u64 = 10_000;
/// JWKS documents are cached this long per URL in the key-value store (docs/shield.md, "Design: identity providers").
pub const JWKS_CACHE_TTL_MS: i64 = 5 * 60 * 1000;
/// Encryption sessions live this long (docs/shield.md, "Design: encryption sessions").
pub const SESSION_TTL_MS: i64 = 5 * 60 * 1000;

/// What a request may use: the platform's one [`guest_kit::Env`].
pub use config::VARIABLES;
pub use guest_kit::Env;
/// shield's tables (docs/shield.md, "Storage"), for `keyward shield import`.
pub use store::SCHEMA;

/// The route groups, one component each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/register`, `/storage-methods`, `/project/…`, `/user`, `/shield/openapi.json`.
    Project,
    /// `/shares`, `/shares/encryption`, `/shares/{reference}`, `/keychain` (user auth).
    Shares,
    /// Bulk lookups, migration, `/admin/preregister` (project auth).
    Admin,
    /// `GET /healthz`.
    Health,
}

/// A route's code and the group whose component runs it.
#[derive(Clone, Copy)]
pub(crate) struct Handler {
    group: Group,
    run: fn(&Ctx<'_, '_>) -> ApiResult<Response>,
    begin: Begin,
}

/// Where a route's request transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begin {
    /// Before the handler runs: project and admin routes make no outbound call.
    AtOnce,
    /// Where the handler says ([`store::Store::begin`]): a share route begins it after the
    /// identity provider answered; a route without storage never does.
    InHandler,
}

/// A route of `group` whose body may be up to [`BODY_LIMIT`].
const fn route(
    pattern: &'static str,
    methods: &'static [&'static str],
    group: Group,
    run: fn(&Ctx<'_, '_>) -> ApiResult<Response>,
) -> Route<Handler> {
    let begin = match group {
        Group::Project | Group::Admin => Begin::AtOnce,
        Group::Shares | Group::Health => Begin::InHandler,
    };
    Route::new(pattern, methods, Handler { group, run, begin }).limit(|_, _| Ok(BODY_LIMIT))
}

use Group::{Admin, Project, Shares};

/// Every shield route (docs/shield.md, "Design: routes"; docs/platform.md, "Design: route
/// tables"), by group. Upstream Shield routes over one table, so every component matches the
/// whole of it, first match wins (`DELETE /shares/encryption` is a share reference), and a
/// path another group serves is a 404 after the 405 check.
pub(crate) const ROUTES: &[Route<Handler>] = &[
    // shield-project
    // A constant document: no storage, so no transaction.
    Route::new(
        OPENAPI_PATH,
        &["GET"],
        Handler {
            group: Project,
            run: |_| Ok(Response::json_text(200, OPENAPI_JSON)),
            begin: Begin::InHandler,
        },
    )
    .limit(|_, _| Ok(BODY_LIMIT)),
    route("/register", &["POST"], Project, project::register),
    route(
        "/storage-methods",
        &["GET"],
        Project,
        project::storage_methods,
    ),
    route("/project", &["GET"], Project, project::get_project),
    route(
        "/project/reset-api-secret",
        &["POST"],
        Project,
        project::reset_secret,
    ),
    // Begins its transaction once the code is delivered (docs/shield.md, "Design: OTP and 2FA").
    Route::new(
        "/project/otp",
        &["POST"],
        Handler {
            group: Project,
            run: otp::request_otp,
            begin: Begin::InHandler,
        },
    )
    .limit(|_, _| Ok(BODY_LIMIT)),
    route(
        "/project/providers",
        &["GET", "POST"],
        Project,
        project::providers,
    ),
    route(
        "/project/providers/:provider",
        &["GET", "PUT", "DELETE"],
        Project,
        |c| project::provider(c, c.param("provider")),
    ),
    route("/project/encrypt", &["POST"], Project, project::encrypt),
    route(
        "/project/encryption-session",
        &["POST"],
        Project,
        project::encryption_session,
    ),
    route(
        "/project/encryption-key",
        &["POST"],
        Project,
        project::encryption_key,
    ),
    route("/project/enable-2fa", &["POST"], Project, otp::enable_2fa),
    route("/user", &["POST"], Project, project::create_user),
    // shield-shares
    route(
        "/shares",
        &["GET", "POST", "PUT", "DELETE"],
        Shares,
        shares::shares,
    ),
    route(
        "/shares/encryption",
        &["GET"],
        Shares,
        shares::share_encryption,
    ),
    route("/shares/:reference", &["GET", "DELETE"], Shares, |c| {
        shares::share_by_reference(c, c.param("reference"))
    }),
    route("/keychain", &["GET"], Shares, shares::keychain),
    // shield-admin
    route(
        "/shares/encryption/reference/bulk",
        &["POST"],
        Admin,
        admin::bulk_reference,
    ),
    route(
        "/shares/encryption/user/bulk",
        &["POST"],
        Admin,
        admin::bulk_user,
    ),
    route(
        "/shares/migration/export/:reference",
        &["GET"],
        Admin,
        |c| admin::export(c, c.param("reference")),
    ),
    route("/shares/migration/import", &["POST"], Admin, admin::import),
    route("/admin/preregister", &["POST"], Admin, admin::preregister),
    HEALTH_ROUTE,
];

/// shield-health: the component reads no body. It matches only this route (Spin sends it
/// nothing else), so its `.wasm` links none of the other routes' code.
const HEALTH_ROUTES: &[Route<Handler>] = &[HEALTH_ROUTE];
const HEALTH_ROUTE: Route<Handler> = Route::new(
    "/healthz",
    &["GET"],
    Handler {
        group: Group::Health,
        run: |c| Ok(health_check(c.env)),
        begin: Begin::InHandler,
    },
);

/// Per-request context handed to the route handlers. The request's transaction comes with the
/// store ([`Store::begin`], [`Store::tx`]).
pub(crate) struct Ctx<'e, 'a> {
    pub env: &'e Env<'a>,
    pub store: Store<'e>,
    pub req: &'e Request,
    /// The request's id (the one the answer echoes and the audit record carries).
    pub request_id: &'e str,
    params: &'e Params,
}

impl Ctx<'_, '_> {
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env.vars)(name)
    }

    /// A path parameter the route's pattern names (decoded by the router).
    fn param(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }
}

/// shield's part in dispatch: its table, its words for 404 / 405 / a body it will not read, and
/// its preflight. `AUDITED`: whether a request runs in a transaction with its audit record; not
/// for health, which names no action, so that the health component links no audit code.
struct Shield<'r, const AUDITED: bool> {
    group: Group,
    routes: &'static [Route<Handler>],
    request_id: &'r str,
}

impl<const AUDITED: bool> Service for Shield<'_, AUDITED> {
    type Handler = Handler;

    fn routes(&self) -> impl Iterator<Item = &'static Route<Handler>> {
        self.routes.iter()
    }

    fn serves(&self, handler: &Handler) -> bool {
        handler.group == self.group
    }

    fn call(
        &self,
        env: &Env<'_>,
        req: &Request,
        handler: &Handler,
        params: &Params,
    ) -> ApiResult<Response> {
        let request = Transaction::new(env);
        let ctx = Ctx {
            env,
            store: Store::new(env.db, guest_kit::config::master_keys(env).ok(), &request),
            req,
            request_id: self.request_id,
            params,
        };
        if !AUDITED {
            return (handler.run)(&ctx);
        }
        if handler.begin == Begin::AtOnce {
            ctx.store.begin()?;
        }
        let resp = (handler.run)(&ctx).unwrap_or_else(ApiError::into_response);
        // A 4xx keeps what the request wrote (a consumed encryption session stays consumed),
        // with its record; a 5xx rolls both back.
        Ok(request
            .finish(resp)
            .unwrap_or_else(|f| f.into_response(error::storage)))
    }

    fn refuse(&self, _env: &Env<'_>, refusal: Refusal<'_, Handler>) -> ApiError {
        match refusal {
            Refusal::NotFound => ApiError::not_found(),
            Refusal::MethodNotAllowed { .. } => ApiError::method_not_allowed(),
            Refusal::TooLarge { .. } | Refusal::InvalidContentLength { .. } => {
                ApiError::read_body()
            }
        }
    }

    fn preflight(
        &self,
        env: &Env<'_>,
        req: &Request,
        _: Option<&Route<Handler>>,
    ) -> Option<Response> {
        is_preflight(req).then(|| preflight(env, req))
    }
}

/// Handles one request for the component serving `group`.
pub fn handle(env: &Env<'_>, group: Group, req: Request) -> Response {
    match group {
        Group::Health => serve_health(env, req),
        Group::Project | Group::Shares | Group::Admin => serve(env, group, ROUTES, req),
    }
}

/// One request against `routes`, answered by `group`'s entries, with its audit trail.
fn serve(env: &Env<'_>, group: Group, routes: &'static [Route<Handler>], req: Request) -> Response {
    let mut request_id = String::new();
    let resp = guest_kit::audit::audited("shield", env, &req, |env| {
        // The trail's id (guest-kit's rule: the client's X-Request-ID when acceptable, else a
        // fresh UUIDv7) is the one the answer echoes and the record carries.
        request_id = env.audit.request_id().to_owned();
        let shield = Shield::<true> {
            group,
            routes,
            request_id: &request_id,
        };
        router::dispatch(&shield, env, &req)
    });
    // After the trail, so an answer replaced for an unwritable record has them too.
    transport(resp, &req, &request_id)
}

/// `GET /healthz` as every shield route (X-Request-ID, CORS), without a trail.
fn serve_health(env: &Env<'_>, req: Request) -> Response {
    let request_id = guest_kit::http::request_id(&req, env.now_ms);
    let shield = Shield::<false> {
        group: Group::Health,
        routes: HEALTH_ROUTES,
        request_id: &request_id,
    };
    let resp = router::dispatch(&shield, env, &req);
    transport(resp, &req, &request_id)
}

/// The headers every answer carries (docs/shield.md, "Design: transport").
fn transport(mut resp: Response, req: &Request, request_id: &str) -> Response {
    if resp.header("content-type").is_none() {
        resp.set_header("content-type", "application/json");
    }
    resp.set_header("x-request-id", request_id);
    if !is_preflight(req) && req.header("origin").is_some() {
        resp.set_header("access-control-allow-origin", "*");
        if resp.header("vary").is_none() {
            resp.set_header("vary", "Origin");
        }
    }
    resp
}

/// A CORS preflight (docs/shield.md, "Design: transport"), on any path.
fn is_preflight(req: &Request) -> bool {
    req.method == "OPTIONS" && req.header("access-control-request-method").is_some()
}

/// Allowed request headers (docs/shield.md, "Design: transport"), lowercase.
const ALLOWED_HEADERS: &[&str] = &[
    "access-control-allow-origin",
    "authorization",
    "content-type",
    "x-api-key",
    "x-api-secret",
    "x-auth-provider",
    "x-openfort-provider",
    "x-openfort-token-type",
    "x-encryption-part",
    "x-encryption-session",
    "x-request-id",
    "traceparent",
    "x-openfort-flow-name",
    "x-openfort-user-id",
    "x-openfort-chain-id",
];

/// CORS preflight (docs/shield.md, "Design: transport"): always 204; the `Access-Control-*` grants only when everything asked is allowed.
fn preflight(env: &Env<'_>, req: &Request) -> Response {
    let mut resp = Response::new(204).with_header(
        "vary",
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    );
    let method = req
        .header_str("access-control-request-method")
        .unwrap_or("");
    let requested = req
        .header_str("access-control-request-headers")
        .unwrap_or("");
    let extra = (env.vars)("cors_extra_allowed_headers").unwrap_or_default();
    let extra: Vec<String> = extra
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let headers_ok = requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .all(|h| {
            let h = h.to_ascii_lowercase();
            ALLOWED_HEADERS.contains(&h.as_str()) || extra.contains(&h)
        });
    let method_ok = matches!(method, "GET" | "POST" | "PUT" | "DELETE" | "OPTIONS");
    if req.header("origin").is_some() && method_ok && headers_ok {
        let max_age = match config::CORS_MAX_AGE.read(env) {
            Ok(seconds) => seconds,
            Err(e) => return e.into_response(),
        };
        resp.set_header("access-control-allow-origin", "*");
        resp.set_header("access-control-allow-methods", method);
        if !requested.is_empty() {
            resp.set_header("access-control-allow-headers", requested);
        }
        resp.set_header("access-control-max-age", &max_age.to_string());
    }
    resp
}

/// `GET /healthz` for the health component, as every shield route (X-Request-ID, CORS).
pub fn health(env: &Env<'_>, req: &Request) -> Response {
    serve_health(env, req.clone())
}

/// 200 `{"status":"healthy",…}` or 503 `"unhealthy"` (docs/shield.md, "Design: routes").
fn health_check(env: &Env<'_>) -> Response {
    let healthy = env.db.execute("SELECT 1", &[]).is_ok();
    let status = if healthy { "healthy" } else { "unhealthy" };
    Response::json(
        if healthy { 200 } else { 503 },
        &serde_json::json!({
            "status": status,
            "at": util::rfc3339(env.now_ms),
            "checks": [{"name": "database", "status": status}],
        }),
    )
}

/// The route groups as components declare them (`guest_kit::component!`).
pub const PROJECT: RouteGroup = RouteGroup {
    body_limit: |_| BODY_LIMIT,
    handle: |env, req| handle(env, Group::Project, req),
};
pub const SHARES: RouteGroup = RouteGroup {
    body_limit: |_| BODY_LIMIT,
    handle: |env, req| handle(env, Group::Shares, req),
};
pub const ADMIN: RouteGroup = RouteGroup {
    body_limit: |_| BODY_LIMIT,
    handle: |env, req| handle(env, Group::Admin, req),
};
/// `GET /healthz`: no body is read.
pub const HEALTH: RouteGroup = RouteGroup {
    body_limit: |_| 0,
    handle: serve_health,
};

/// shield's components as `spin.toml` declares them: their routes and route groups
/// (docs/platform.md, "Design: route tables").
pub const COMPONENTS: &[Component] = &[
    Component {
        id: "shield-health",
        routes: &["/healthz"],
        group: HEALTH,
    },
    Component {
        id: "shield-project",
        routes: &[
            "/register",
            "/storage-methods",
            "/project",
            "/project/...",
            "/user",
            OPENAPI_PATH,
        ],
        group: PROJECT,
    },
    Component {
        id: "shield-shares",
        routes: &["/shares", "/shares/...", "/keychain"],
        group: SHARES,
    },
    Component {
        id: "shield-admin",
        routes: &[
            "/shares/encryption/reference/bulk",
            "/shares/encryption/user/bulk",
            "/shares/migration/...",
            "/admin/preregister",
        ],
        group: ADMIN,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/healthz",
            "/register",
            "/storage-methods",
            "/project",
            "/project/reset-api-secret",
            "/project/otp",
            "/project/providers",
            "/project/providers/{provider}",
            "/project/encrypt",
            "/project/encryption-session",
            "/project/encryption-key",
            "/project/enable-2fa",
            "/user",
            "/shares",
            "/shares/encryption",
            "/shares/{reference}",
            "/keychain",
            "/shares/encryption/reference/bulk",
            "/shares/encryption/user/bulk",
            "/shares/migration/export/{reference}",
            "/shares/migration/import",
            "/admin/preregister",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
    }

    /// The matched pattern and its parameter, or the status refused.
    fn route(method: &str, path: &str) -> Result<(&'static str, Option<String>), u16> {
        match router::find(ROUTES, method, path) {
            router::Outcome::Found(r, p) => {
                let param = ["provider", "reference"]
                    .iter()
                    .find_map(|n| p.get(n).map(str::to_owned));
                Ok((r.pattern, param))
            }
            router::Outcome::NotFound => Err(404),
            router::Outcome::MethodNotAllowed { .. } => Err(405),
        }
    }

    #[test]
    fn routing() {
        let reference = |r: &str| Ok(("/shares/:reference", Some(r.into())));
        let cases = [
            (
                "GET",
                "/shares/encryption",
                Ok(("/shares/encryption", None)),
            ),
            ("DELETE", "/shares/encryption", reference("encryption")),
            ("GET", "/shares/a%20b", reference("a b")),
            ("PATCH", "/shares", Err(405)),
            ("GET", "/shares/", Err(404)),
            ("GET", "/shares/a/b", Err(404)),
            ("GET", "/project/", Err(404)),
            ("GET", "", Err(404)),
            (
                "POST",
                "/shares/encryption/user/bulk",
                Ok(("/shares/encryption/user/bulk", None)),
            ),
            (
                "PUT",
                "/project/providers/p%2F1",
                Ok(("/project/providers/:provider", Some("p/1".into()))),
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(route(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn every_route_is_served_by_one_component_of_its_group() {
        for r in ROUTES {
            let path = r
                .pattern
                .replace(":reference", "r")
                .replace(":provider", "p");
            let component = router::spin_component(COMPONENTS, &path).expect("a component");
            let group = match component.id {
                "shield-health" => Group::Health,
                "shield-project" => Group::Project,
                "shield-shares" => Group::Shares,
                _ => Group::Admin,
            };
            assert_eq!(group, r.handler.group, "{}", r.pattern);
        }
    }
}
