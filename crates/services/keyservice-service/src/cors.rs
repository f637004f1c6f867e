//! docs/keyservice.md, "Design: CORS": CORS for the browser-facing `/init` and `/key` only, over
//! guest-kit's one CORS core.

use guest_kit::cors::Cors;
use guest_kit::{Request, Response};

use crate::Env;
use crate::config;

const ALLOW_HEADERS: &str = "authorization, x-date, content-type";
/// Browsers hide non-safelisted response headers from scripts; clients need
/// `Date` to see clock skew and `Retry-After` to back off.
const EXPOSE_HEADERS: &str = "date, retry-after";

fn cors(origins: Option<&str>) -> Cors<'_> {
    Cors {
        allowed_origins: origins,
        allow_headers: ALLOW_HEADERS,
        expose_headers: EXPOSE_HEADERS,
        max_age_secs: 600,
    }
}

/// Whether CORS is configured at all.
pub fn enabled(env: &Env<'_>) -> bool {
    config::cors_allowed_origins(env).is_some()
}

/// Adds `Access-Control-Allow-Origin` (+ `Vary`) for an allowed origin.
pub fn apply(env: &Env<'_>, req: &Request, resp: Response) -> Response {
    cors(config::cors_allowed_origins(env).as_deref()).apply(req, resp)
}

/// `OPTIONS` preflight: 204 with the allowed methods and headers (the route table's preflight
/// hook calls it for the CORS routes).
pub fn preflight(methods: &str) -> Response {
    cors(None).preflight(methods)
}
