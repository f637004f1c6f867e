//! keyward **shield** (shield.md): everything but the Spin glue.
//!
//! Each route-group component converts its request to [`guest_kit::Request`], builds an
//! [`Env`] over its granted Spin resources and calls [`handle`] with its [`Group`]. Native tests
//! drive the same entry point with real SQLite, an in-memory key-value store, a fake clock and an
//! in-memory [`guest_kit::Fetch`].
//!
//! Per request: X-Request-ID and CORS (docs/shield.md, "Design: transport") → routing inside the group (404/405) → auth (docs/shield.md, "Design: authentication", with
//! the rate limit of docs/shield.md, "Design: rate limit") → the route (docs/shield.md, "Design: routes") → `Content-Type: application/json` on every answer.

#![forbid(unsafe_code)]
// Request paths must never panic; unit tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod admin;
mod auth;
mod config;
mod error;
mod identity;
mod limits;
mod project;
mod shares;
mod store;
mod ua;
mod util;

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

/// The route groups, one component each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/register`, `/storage-methods`, `/project/…`, `/user`, `/shield/openapi.json`.
    Project,
    /// `/shares`, `/shares/encryption`, `/shares/{reference}`, `/keychain` (user auth).
    Shares,
    /// Bulk lookups, migration, `/admin/preregister` (project auth).
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    OpenApi,
    Register,
    StorageMethods,
    Project,
    ResetSecret,
    ProjectOtp,
    Providers,
    Provider(String),
    Encrypt,
    EncryptionSession,
    EncryptionKey,
    Enable2fa,
    User,
    Shares,
    SharesEncryption,
    ShareRef(String),
    Keychain,
    BulkReference,
    BulkUser,
    Export(String),
    Import,
    Preregister,
}

impl Route {
    fn group(&self) -> Group {
        match self {
            Route::Shares | Route::SharesEncryption | Route::ShareRef(_) | Route::Keychain => {
                Group::Shares
            }
            Route::BulkReference
            | Route::BulkUser
            | Route::Export(_)
            | Route::Import
            | Route::Preregister => Group::Admin,
            _ => Group::Project,
        }
    }
}

/// The route table (docs/shield.md, "Design: routes"), in order (first match wins). Returns 404 / 405 as errors.
fn route(method: &str, path: &str) -> ApiResult<Route> {
    let segments: Vec<&str> = path
        .strip_prefix('/')
        .unwrap_or("\u{0}")
        .split('/')
        .collect();
    let param = |s: &str| -> Option<String> {
        if s.is_empty() {
            None
        } else {
            util::percent_decode(s).filter(|d| !d.is_empty())
        }
    };
    // (route, methods) candidates whose path matches, in table order.
    let mut candidates: Vec<(Route, &[&str])> = Vec::new();
    match segments.as_slice() {
        ["shield", "openapi.json"] => candidates.push((Route::OpenApi, &["GET"])),
        ["register"] => candidates.push((Route::Register, &["POST"])),
        ["storage-methods"] => candidates.push((Route::StorageMethods, &["GET"])),
        ["project"] => candidates.push((Route::Project, &["GET"])),
        ["project", "reset-api-secret"] => candidates.push((Route::ResetSecret, &["POST"])),
        ["project", "otp"] => candidates.push((Route::ProjectOtp, &["POST"])),
        ["project", "providers"] => candidates.push((Route::Providers, &["GET", "POST"])),
        ["project", "providers", id] => {
            if let Some(id) = param(id) {
                candidates.push((Route::Provider(id), &["GET", "PUT", "DELETE"]));
            }
        }
        ["project", "encrypt"] => candidates.push((Route::Encrypt, &["POST"])),
        ["project", "encryption-session"] => {
            candidates.push((Route::EncryptionSession, &["POST"]));
        }
        ["project", "encryption-key"] => candidates.push((Route::EncryptionKey, &["POST"])),
        ["project", "enable-2fa"] => candidates.push((Route::Enable2fa, &["POST"])),
        ["user"] => candidates.push((Route::User, &["POST"])),
        ["shares"] => candidates.push((Route::Shares, &["GET", "POST", "PUT", "DELETE"])),
        ["shares", reference] => {
            if *reference == "encryption" {
                candidates.push((Route::SharesEncryption, &["GET"]));
            }
            if let Some(r) = param(reference) {
                candidates.push((Route::ShareRef(r), &["GET", "DELETE"]));
            }
        }
        ["keychain"] => candidates.push((Route::Keychain, &["GET"])),
        ["shares", "encryption", "reference", "bulk"] => {
            candidates.push((Route::BulkReference, &["POST"]));
        }
        ["shares", "encryption", "user", "bulk"] => candidates.push((Route::BulkUser, &["POST"])),
        ["shares", "migration", "export", reference] => {
            if let Some(r) = param(reference) {
                candidates.push((Route::Export(r), &["GET"]));
            }
        }
        ["shares", "migration", "import"] => candidates.push((Route::Import, &["POST"])),
        ["admin", "preregister"] => candidates.push((Route::Preregister, &["POST"])),
        _ => {}
    }
    if candidates.is_empty() {
        return Err(ApiError::not_found());
    }
    candidates
        .into_iter()
        .find(|(_, methods)| methods.contains(&method))
        .map(|(r, _)| r)
        .ok_or_else(ApiError::method_not_allowed)
}

/// Per-request context handed to the route handlers.
pub(crate) struct Ctx<'e, 'a> {
    pub env: &'e Env<'a>,
    pub store: Store<'e>,
    pub req: &'e Request,
    pub request_id: String,
}

impl Ctx<'_, '_> {
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env.vars)(name)
    }
}

/// Handles one request for the component serving `group`.
pub fn handle(env: &Env<'_>, group: Group, req: Request) -> Response {
    let request_id = util::request_id(&req, env.now_ms);
    let is_preflight =
        req.method == "OPTIONS" && req.header("access-control-request-method").is_some();
    let mut resp = if is_preflight {
        preflight(env, &req)
    } else {
        dispatch(env, group, &req, &request_id).unwrap_or_else(ApiError::into_response)
    };
    if resp.header("content-type").is_none() {
        resp.set_header("content-type", "application/json");
    }
    resp.set_header("x-request-id", &request_id);
    if !is_preflight && req.header("origin").is_some() {
        resp.set_header("access-control-allow-origin", "*");
        if resp.header("vary").is_none() {
            resp.set_header("vary", "Origin");
        }
    }
    resp
}

fn dispatch(env: &Env<'_>, group: Group, req: &Request, request_id: &str) -> ApiResult<Response> {
    let route = route(&req.method, req.path())?;
    if route.group() != group {
        return Err(ApiError::not_found());
    }
    if req.check_body_size(BODY_LIMIT).is_err() {
        return Err(ApiError::read_body());
    }
    let ctx = Ctx {
        env,
        store: Store::new(env.db, (env.vars)("master_key")),
        req,
        request_id: request_id.to_owned(),
    };
    match route {
        Route::OpenApi => Ok(Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(OPENAPI_JSON.as_bytes().to_vec())),
        Route::Register => project::register(&ctx),
        Route::StorageMethods => project::storage_methods(&ctx),
        Route::Project => project::get_project(&ctx),
        Route::ResetSecret => project::reset_secret(&ctx),
        Route::ProjectOtp | Route::Enable2fa => project::otp_phase1(&ctx),
        Route::Providers => project::providers(&ctx),
        Route::Provider(id) => project::provider(&ctx, &id),
        Route::Encrypt => project::encrypt(&ctx),
        Route::EncryptionSession => project::encryption_session(&ctx),
        Route::EncryptionKey => project::encryption_key(&ctx),
        Route::User => project::create_user(&ctx),
        Route::Shares => shares::shares(&ctx),
        Route::SharesEncryption => shares::share_encryption(&ctx),
        Route::ShareRef(r) => shares::share_by_reference(&ctx, &r),
        Route::Keychain => shares::keychain(&ctx),
        Route::BulkReference => admin::bulk_reference(&ctx),
        Route::BulkUser => admin::bulk_user(&ctx),
        Route::Export(r) => admin::export(&ctx, &r),
        Route::Import => admin::import(&ctx),
        Route::Preregister => admin::preregister(&ctx),
    }
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

/// 200 `{"status":"healthy",…}` or 503 `"unhealthy"` (docs/shield.md, "Design: routes"), for the health component.
pub fn health(env: &Env<'_>, req: &Request) -> Response {
    let request_id = util::request_id(req, env.now_ms);
    let is_preflight =
        req.method == "OPTIONS" && req.header("access-control-request-method").is_some();
    let mut resp = if is_preflight {
        let mut r = preflight(env, req);
        r.set_header("content-type", "application/json");
        r
    } else if req.method != "GET" {
        ApiError::method_not_allowed().into_response()
    } else {
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
    };
    resp.set_header("x-request-id", &request_id);
    if !is_preflight && req.header("origin").is_some() {
        resp.set_header("access-control-allow-origin", "*");
        resp.set_header("vary", "Origin");
    }
    resp
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
    handle: |env, req| health(env, &req),
};

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

    #[test]
    fn routing() {
        assert_eq!(
            route("GET", "/shares/encryption"),
            Ok(Route::SharesEncryption)
        );
        assert_eq!(
            route("DELETE", "/shares/encryption"),
            Ok(Route::ShareRef("encryption".into()))
        );
        assert_eq!(
            route("GET", "/shares/a%20b"),
            Ok(Route::ShareRef("a b".into()))
        );
        assert_eq!(route("PATCH", "/shares").map_err(|e| e.status), Err(405));
        assert_eq!(route("GET", "/shares/").map_err(|e| e.status), Err(404));
        assert_eq!(route("GET", "/shares/a/b").map_err(|e| e.status), Err(404));
        assert_eq!(route("GET", "/project/").map_err(|e| e.status), Err(404));
        assert_eq!(route("GET", "").map_err(|e| e.status), Err(404));
        assert_eq!(
            route("POST", "/shares/encryption/user/bulk"),
            Ok(Route::BulkUser)
        );
    }
}
