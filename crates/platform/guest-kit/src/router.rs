//! Route tables (docs/platform.md, "Design: route tables"): each service declares every route it
//! serves once, as data, and this module decides 404, 405, the CORS preflight's place and the
//! body-size refusal. Each service only says how its answers look ([`Service`]), because each
//! keeps its own wire format (shield's is upstream Openfort Shield's).
//!
//! Two tables per service: its [`Route`]s (pattern, methods, handler, body limit), grouped by
//! route group, and its [`Component`]s (the `spin.toml` routes of each component and the
//! [`RouteGroup`] it runs). The second is what Spin routes by; [`spin_component`] matches it as
//! Spin does, for the native bench, and an e2e test keeps it equal to `spin.toml`.

use crate::component::RouteGroup;
use crate::env::Env;
use crate::error::{ApiError, ApiResult, respond};
use crate::http::{BodySizeError, Request, Response, percent_decode};

/// How many body bytes a route accepts; may read configuration (and fail as configuration does).
pub type BodyLimit = fn(&Env<'_>, &Request) -> ApiResult<usize>;

/// One entry of a route table.
///
/// A pattern is `/`-separated segments: a literal, `:name` (one non-empty segment,
/// percent-decoded; a segment that does not decode to UTF-8 does not match) or `=name` (one
/// non-empty segment exactly as received, for identifiers whose own validation must see the raw
/// bytes).
#[derive(Debug)]
pub struct Route<H> {
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    pub handler: H,
    /// Checked before the handler runs; `None`: the body is not looked at.
    pub body_limit: Option<BodyLimit>,
}

impl<H> Route<H> {
    pub const fn new(pattern: &'static str, methods: &'static [&'static str], handler: H) -> Self {
        Self {
            pattern,
            methods,
            handler,
            body_limit: None,
        }
    }
}

// `Copy` handlers (values, function pointers) have no destructor, which a `const fn` taking
// `self` by value needs.
impl<H: Copy> Route<H> {
    pub const fn limit(self, body_limit: BodyLimit) -> Self {
        Self {
            body_limit: Some(body_limit),
            ..self
        }
    }
}

/// A matched route's parameters, by the names the pattern gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `path` against one pattern: its parameters, or `None`.
pub fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut wanted = pattern.strip_prefix('/')?.split('/');
    let mut given = path.strip_prefix('/')?.split('/');
    let mut params = Params::default();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix(':') {
                    let value = percent_decode(g).filter(|v| !v.is_empty())?;
                    params.0.push((name, value));
                } else if let Some(name) = w.strip_prefix('=') {
                    if g.is_empty() {
                        return None;
                    }
                    params.0.push((name, g.to_owned()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// What a table says about a request.
#[derive(Debug)]
pub enum Outcome<'t, H> {
    /// The first entry (in table order) whose pattern and method match.
    Found(&'t Route<H>, Params),
    /// No pattern matches.
    NotFound,
    /// Some pattern matches but none of those entries takes this method. `route` is the first of
    /// them; `allow` is their methods, in table order, each once.
    MethodNotAllowed {
        route: &'t Route<H>,
        allow: Vec<&'static str>,
    },
}

impl<'t, H> Outcome<'t, H> {
    /// The first entry whose pattern matched, whatever the method.
    pub fn route(&self) -> Option<&'t Route<H>> {
        match self {
            Outcome::Found(route, _) | Outcome::MethodNotAllowed { route, .. } => Some(route),
            Outcome::NotFound => None,
        }
    }
}

/// Matches a request against a table: first match wins.
pub fn find<'t, H: 't>(
    routes: impl IntoIterator<Item = &'t Route<H>>,
    method: &str,
    path: &str,
) -> Outcome<'t, H> {
    let mut refused: Option<(&'t Route<H>, Vec<&'static str>)> = None;
    for route in routes {
        let Some(params) = match_pattern(route.pattern, path) else {
            continue;
        };
        if route.methods.contains(&method) {
            return Outcome::Found(route, params);
        }
        let (_, allow) = refused.get_or_insert_with(|| (route, Vec::new()));
        for m in route.methods {
            if !allow.contains(m) {
                allow.push(m);
            }
        }
    }
    match refused {
        Some((route, allow)) => Outcome::MethodNotAllowed { route, allow },
        None => Outcome::NotFound,
    }
}

/// What the router refuses, for the service to word.
#[derive(Debug)]
pub enum Refusal<'t, H> {
    NotFound,
    /// `allow`: the methods the path takes, `, `-separated, in table order.
    MethodNotAllowed {
        route: &'t Route<H>,
        allow: String,
    },
    /// The body (declared or received) is larger than the route's limit.
    TooLarge {
        limit: usize,
    },
    /// `Content-Length` is not a number, or repeated with different values.
    InvalidContentLength {
        limit: usize,
    },
}

/// A service's part in dispatch: its table, its handlers and how its answers look. The router
/// decides when to refuse and when a preflight is answered; the service only words them.
pub trait Service {
    type Handler: 'static;

    /// The entries this component serves, in table order.
    fn routes(&self) -> impl Iterator<Item = &'static Route<Self::Handler>>;

    /// Runs a matched route whose body is within its limit.
    fn call(
        &self,
        env: &Env<'_>,
        req: &Request,
        handler: &Self::Handler,
        params: &Params,
    ) -> ApiResult<Response>;

    /// The service's own 404 / 405 / 413 / bad `Content-Length`.
    fn refuse(&self, env: &Env<'_>, refusal: Refusal<'_, Self::Handler>) -> ApiError;

    /// Whether this component runs a route it matched; one it does not run is a 404, decided
    /// after 405 and before the body is looked at.
    fn serves(&self, _handler: &Self::Handler) -> bool {
        true
    }

    /// The CORS preflight hook: called for every `OPTIONS` request before its method is checked,
    /// with the first entry its path matched. `Some`: the preflight's answer; `None`: routed as
    /// any other request.
    fn preflight(
        &self,
        _env: &Env<'_>,
        _req: &Request,
        _route: Option<&Route<Self::Handler>>,
    ) -> Option<Response> {
        None
    }

    /// Last touch on every answer (CORS response headers), with the first entry the path matched.
    fn finish(
        &self,
        _env: &Env<'_>,
        _req: &Request,
        _route: Option<&Route<Self::Handler>>,
        resp: Response,
    ) -> Response {
        resp
    }
}

/// One request through a service's table: route → preflight hook → 404 / 405 → body limit
/// → handler → finish.
pub fn dispatch<S: Service>(service: &S, env: &Env<'_>, req: &Request) -> Response {
    let outcome = find(service.routes(), &req.method, req.path());
    let route = outcome.route();
    let preflight = if req.method == "OPTIONS" {
        service.preflight(env, req, route)
    } else {
        None
    };
    let resp = match preflight {
        Some(resp) => resp,
        None => respond(run(service, env, req, outcome)),
    };
    service.finish(env, req, route, resp)
}

fn run<S: Service>(
    service: &S,
    env: &Env<'_>,
    req: &Request,
    outcome: Outcome<'_, S::Handler>,
) -> ApiResult<Response> {
    let (route, params) = match outcome {
        Outcome::Found(route, params) => (route, params),
        Outcome::NotFound => return Err(service.refuse(env, Refusal::NotFound)),
        Outcome::MethodNotAllowed { route, allow } => {
            let allow = allow.join(", ");
            return Err(service.refuse(env, Refusal::MethodNotAllowed { route, allow }));
        }
    };
    if !service.serves(&route.handler) {
        return Err(service.refuse(env, Refusal::NotFound));
    }
    if let Some(body_limit) = route.body_limit {
        let limit = body_limit(env, req)?;
        let refusal = match req.check_body_size(limit) {
            Ok(()) => None,
            Err(BodySizeError::TooLarge) => Some(Refusal::TooLarge { limit }),
            Err(BodySizeError::InvalidContentLength) => {
                Some(Refusal::InvalidContentLength { limit })
            }
        };
        if let Some(refusal) = refusal {
            return Err(service.refuse(env, refusal));
        }
    }
    service.call(env, req, &route.handler, &params)
}

/// A component as `spin.toml` declares it: its id, its `[[trigger.http]]` routes and the route
/// group its `guest_kit::component!` runs.
#[derive(Clone, Copy)]
pub struct Component {
    pub id: &'static str,
    pub routes: &'static [&'static str],
    pub group: RouteGroup,
}

/// How well a Spin route matches a path: exact beats any wildcard, a longer prefix beats a
/// shorter one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpinMatch {
    Prefix(usize),
    Exact,
}

/// A Spin route (`/exact`, or `/prefix/...`, which also matches `/prefix` itself) against a path.
pub fn spin_route_match(route: &str, path: &str) -> Option<SpinMatch> {
    match route.strip_suffix("/...") {
        None => (route == path).then_some(SpinMatch::Exact),
        Some(prefix) => {
            let under = path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            under.then_some(SpinMatch::Prefix(prefix.len()))
        }
    }
}

/// The component Spin sends `path` to, among `components`.
pub fn spin_component<'c>(
    components: impl IntoIterator<Item = &'c Component>,
    path: &str,
) -> Option<&'c Component> {
    let mut best: Option<(SpinMatch, &'c Component)> = None;
    for component in components {
        for route in component.routes {
            if let Some(m) = spin_route_match(route, path)
                && best.is_none_or(|(b, _)| m > b)
            {
                best = Some((m, component));
            }
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum H {
        Encryption,
        ByRef,
        Shares,
        Ns,
    }

    const TABLE: &[Route<H>] = &[
        Route::new("/shares", &["GET", "POST"], H::Shares),
        Route::new("/shares/encryption", &["GET"], H::Encryption),
        Route::new("/shares/:reference", &["GET", "DELETE"], H::ByRef),
        Route::new("/ns/=ns", &["PUT"], H::Ns),
    ];

    fn found(method: &str, path: &str) -> Option<(H, Params)> {
        match find(TABLE, method, path) {
            Outcome::Found(r, p) => Some((r.handler, p)),
            _ => None,
        }
    }

    fn params(pairs: &[(&'static str, &str)]) -> Params {
        Params(pairs.iter().map(|(n, v)| (*n, (*v).to_owned())).collect())
    }

    #[test]
    fn first_match_wins_by_path_and_method() {
        assert_eq!(
            found("GET", "/shares/encryption"),
            Some((H::Encryption, params(&[])))
        );
        // The literal entry does not take DELETE; the parameter entry after it does.
        assert_eq!(
            found("DELETE", "/shares/encryption"),
            Some((H::ByRef, params(&[("reference", "encryption")])))
        );
    }

    #[test]
    fn parameters_are_decoded_once_and_never_empty() {
        assert_eq!(
            found("GET", "/shares/a%20b"),
            Some((H::ByRef, params(&[("reference", "a b")])))
        );
        for path in [
            "/shares/",
            "/shares/%zz",
            "/shares/%ff",
            "/shares/a/b",
            "",
            "shares",
        ] {
            assert!(
                matches!(find(TABLE, "GET", path), Outcome::NotFound),
                "{path}"
            );
        }
        assert_eq!(
            found("PUT", "/ns/a%41"),
            Some((H::Ns, params(&[("ns", "a%41")])))
        );
        assert!(matches!(find(TABLE, "PUT", "/ns/"), Outcome::NotFound));
    }

    #[test]
    fn not_found_versus_method_not_allowed() {
        match find(TABLE, "PATCH", "/shares/encryption") {
            Outcome::MethodNotAllowed { route, allow } => {
                assert_eq!(route.handler, H::Encryption);
                assert_eq!(allow, ["GET", "DELETE"]);
            }
            other => panic!("{other:?}"),
        }
        match find(TABLE, "DELETE", "/shares") {
            Outcome::MethodNotAllowed { allow, .. } => assert_eq!(allow, ["GET", "POST"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(find(TABLE, "GET", "/nope"), Outcome::NotFound));
    }

    #[test]
    fn spin_routes_match_as_spin_does() {
        assert_eq!(spin_route_match("/key", "/key"), Some(SpinMatch::Exact));
        assert_eq!(spin_route_match("/key", "/key/x"), None);
        assert_eq!(spin_route_match("/a/...", "/a"), Some(SpinMatch::Prefix(2)));
        assert_eq!(
            spin_route_match("/a/...", "/a/b/c"),
            Some(SpinMatch::Prefix(2))
        );
        assert_eq!(spin_route_match("/a/...", "/ab"), None);
        assert_eq!(spin_route_match("/...", "/x"), Some(SpinMatch::Prefix(0)));
        let group = RouteGroup {
            body_limit: |_| 0,
            handle: |_, _| Response::new(200),
        };
        let components = [
            Component {
                id: "wide",
                routes: &["/s/..."],
                group,
            },
            Component {
                id: "narrow",
                routes: &["/s/m/...", "/s/x"],
                group,
            },
        ];
        let id = |path| spin_component(&components, path).map(|c| c.id);
        assert_eq!(id("/s/a"), Some("wide"));
        assert_eq!(id("/s/m"), Some("narrow"));
        assert_eq!(id("/s/m/1"), Some("narrow"));
        assert_eq!(id("/s/x"), Some("narrow"));
        assert_eq!(id("/t"), None);
    }
}
