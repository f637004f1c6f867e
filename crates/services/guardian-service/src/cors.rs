//! docs/guardian.md, "Design: CORS": browser wallets on the origins listed in
//! `guardian_cors_allowed_origins` may call the enduser routes; the maintainer's never answer
//! CORS. guest-kit's CORS core does the matching, `Vary` and the preflight's answer.

use guest_kit::cors::Cors;
use guest_kit::router::{Route, match_pattern};
use guest_kit::{Request, Response};

use crate::Env;
use crate::config::var;

/// The variable listing the allowed origins (comma-separated; `*`: any; empty: CORS off).
pub const ALLOWED_ORIGINS: &str = "guardian_cors_allowed_origins";
/// What the enduser routes read: the token (either header) and a JSON body.
const ALLOW_HEADERS: &str = "authorization, x-vault-token, content-type";
/// A wallet backs off on 429 by `Retry-After`, which browsers hide unless exposed.
const EXPOSE_HEADERS: &str = "retry-after";

fn with_origins(origins: Option<&str>) -> Cors<'_> {
    Cors {
        allowed_origins: origins,
        allow_headers: ALLOW_HEADERS,
        expose_headers: EXPOSE_HEADERS,
        max_age_secs: 600,
    }
}

/// The `Access-Control-*` and `Vary` headers of an answer of a browser-facing component.
pub fn apply(env: &Env<'_>, req: &Request, resp: Response) -> Response {
    with_origins(var(env, ALLOWED_ORIGINS).as_deref()).apply(req, resp)
}

/// The answer to an `OPTIONS` preflight on a path of `routes` while CORS is configured: 204 with
/// every method the path takes; `None` (routed as any request: 404 or 405) otherwise.
pub fn preflight<H>(env: &Env<'_>, req: &Request, routes: &'static [Route<H>]) -> Option<Response> {
    var(env, ALLOWED_ORIGINS)?;
    let mut methods: Vec<&str> = Vec::new();
    for route in routes {
        if match_pattern(route.pattern, req.path()).is_none() {
            continue;
        }
        for m in route.methods {
            if !methods.contains(m) {
                methods.push(m);
            }
        }
    }
    if methods.is_empty() {
        return None;
    }
    Some(with_origins(None).preflight(&methods.join(", ")))
}
