//! docs/keyservice.md, "Design: CORS": CORS for the browser-facing `/init` and `/key` only.

use guest_kit::{Request, Response};

use crate::Env;
use crate::config;

const ALLOW_HEADERS: &str = "authorization, x-date, content-type";
/// Browsers hide non-safelisted response headers from scripts; clients need
/// `Date` to see clock skew and `Retry-After` to back off.
const EXPOSE_HEADERS: &str = "date, retry-after";

/// Whether CORS is configured at all.
pub fn enabled(env: &Env<'_>) -> bool {
    config::cors_allowed_origins(env).is_some()
}

/// The request's `Origin` if it is allowed.
fn allowed_origin<'r>(env: &Env<'_>, req: &'r Request) -> Option<&'r str> {
    let list = config::cors_allowed_origins(env)?;
    // Several Origin headers are not something a browser sends.
    if req.header_count("origin") != 1 {
        return None;
    }
    let origin = req.header_str("origin")?;
    let allowed = list
        .split(',')
        .map(str::trim)
        .any(|o| o == "*" || o == origin);
    allowed.then_some(origin)
}

/// Adds `Access-Control-Allow-Origin` (+ `Vary`) for an allowed origin.
pub fn apply(env: &Env<'_>, req: &Request, resp: Response) -> Response {
    match allowed_origin(env, req) {
        Some(origin) if origin.bytes().all(|b| (0x21..=0x7e).contains(&b)) => resp
            .with_header("access-control-allow-origin", origin)
            .with_header("access-control-expose-headers", EXPOSE_HEADERS)
            .with_header("vary", "Origin"),
        // Responses still vary by Origin when CORS is on.
        _ if enabled(env) => resp.with_header("vary", "Origin"),
        _ => resp,
    }
}

/// `OPTIONS` preflight: 204 with the allowed methods and headers (the route table's preflight
/// hook calls it for the CORS routes).
pub fn preflight(methods: &str) -> Response {
    Response::new(204)
        .with_header("access-control-allow-methods", methods)
        .with_header("access-control-allow-headers", ALLOW_HEADERS)
        .with_header("access-control-max-age", "600")
}
