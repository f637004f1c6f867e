//! CORS for browser-facing routes over an allow list of origins (keyservice's `/init` and `/key`,
//! guardian's enduser routes): origin matching, the response headers and `Vary`, and the
//! preflight's answer. Each service decides which routes are browser-facing and which headers
//! they take; the route table's preflight hook calls [`Cors::preflight`].

use crate::http::{Request, Response};

/// One service's CORS settings for one request.
#[derive(Debug, Clone, Copy)]
pub struct Cors<'a> {
    /// The configured comma-separated origins (`*`: any); `None`: CORS is off.
    pub allowed_origins: Option<&'a str>,
    /// `Access-Control-Allow-Headers` of a preflight.
    pub allow_headers: &'static str,
    /// `Access-Control-Expose-Headers` of an answer to an allowed origin.
    pub expose_headers: &'static str,
    /// `Access-Control-Max-Age` of a preflight, in seconds.
    pub max_age_secs: u32,
}

impl Cors<'_> {
    /// Whether CORS is configured at all.
    pub fn enabled(&self) -> bool {
        self.allowed_origins.is_some()
    }

    /// The request's `Origin` if it is allowed (exactly one `Origin` header, listed or `*`
    /// listed, and printable ASCII so that it can be echoed).
    pub fn allowed_origin<'r>(&self, req: &'r Request) -> Option<&'r str> {
        let list = self.allowed_origins?;
        // Several Origin headers are not something a browser sends.
        if req.header_count("origin") != 1 {
            return None;
        }
        let origin = req.header_str("origin")?;
        let listed = list
            .split(',')
            .map(str::trim)
            .any(|o| o == "*" || o == origin);
        let printable = origin.bytes().all(|b| (0x21..=0x7e).contains(&b));
        (listed && printable).then_some(origin)
    }

    /// Adds `Access-Control-Allow-Origin`, `Access-Control-Expose-Headers` and `Vary: Origin` for
    /// an allowed origin; only `Vary: Origin` for any other request while CORS is on (the answer
    /// depends on the origin, so caches must key on it); nothing while it is off.
    pub fn apply(&self, req: &Request, resp: Response) -> Response {
        match self.allowed_origin(req) {
            Some(origin) => resp
                .with_header("access-control-allow-origin", origin)
                .with_header("access-control-expose-headers", self.expose_headers)
                .with_header("vary", "Origin"),
            None if self.enabled() => resp.with_header("vary", "Origin"),
            None => resp,
        }
    }

    /// The preflight's answer before [`Cors::apply`]: 204 with the route's `methods` and the
    /// allowed headers. Whether the origin may use them is `Access-Control-Allow-Origin`, which
    /// only [`Cors::apply`] adds.
    pub fn preflight(&self, methods: &str) -> Response {
        Response::new(204)
            .with_header("access-control-allow-methods", methods)
            .with_header("access-control-allow-headers", self.allow_headers)
            .with_header("access-control-max-age", &self.max_age_secs.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORS: Cors<'static> = Cors {
        allowed_origins: Some("https://a.example, https://b.example"),
        allow_headers: "authorization",
        expose_headers: "retry-after",
        max_age_secs: 600,
    };

    fn from(origin: &str) -> Request {
        Request::new("GET", "/").with_header("origin", origin)
    }

    #[test]
    fn only_listed_origins_are_granted() {
        let r = CORS.apply(&from("https://b.example"), Response::new(200));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://b.example")
        );
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("retry-after")
        );
        assert_eq!(r.header("vary"), Some("Origin"));
        let r = CORS.apply(&from("https://c.example"), Response::new(200));
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), Some("Origin"));
        let two = from("https://a.example").with_header("origin", "https://a.example");
        assert_eq!(CORS.allowed_origin(&two), None);
        let off = Cors {
            allowed_origins: None,
            ..CORS
        };
        let r = off.apply(&from("https://a.example"), Response::new(200));
        assert_eq!(r.header("vary"), None);
        let any = Cors {
            allowed_origins: Some("*"),
            ..CORS
        };
        assert_eq!(
            any.allowed_origin(&from("https://z.example")),
            Some("https://z.example")
        );
        assert_eq!(any.allowed_origin(&from("https://z.example\u{7f}")), None);
    }

    #[test]
    fn preflight_names_methods_and_headers() {
        let r = CORS.preflight("GET, POST");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("authorization")
        );
        assert_eq!(r.header("access-control-max-age"), Some("600"));
    }
}
