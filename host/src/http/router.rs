//! Spin's HTTP routing: `/exact`, `/prefix/...` wildcards and `:name` segments (the syntax is
//! `host_config::route`'s, which the manifest checks).
//!
//! Precedence: a route without a wildcard beats any wildcard; among exact routes fewer `:name`
//! segments win; among wildcards the longest prefix wins, then fewer `:name` segments. Two routes
//! that would always tie are rejected at start, as Spin rejects duplicate routes.

use anyhow::{Result, bail};
use host_config::route::{self, Pattern, Segment};

#[derive(Debug, Clone)]
pub struct Route {
    /// The route as written in the manifest.
    pub raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    pub component: String,
}

/// The result of matching a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route's position in the manifest's order: what per-route state (metrics) is kept by.
    pub index: usize,
    pub raw_route: &'a str,
    pub component: &'a str,
    /// The route without its trailing `/...` (Spin's `spin-component-route`).
    pub component_route: String,
    /// The part of the path the wildcard matched, with its leading `/` (`""` for exact routes).
    pub path_info: String,
    pub params: Vec<(String, String)>,
}

/// Higher is better: (exact route, segments matched, fewer parameters).
type Score = (u8, usize, usize);
type Params = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut routes: Vec<Route> = Vec::new();
        for (raw, component) in entries {
            let Pattern { segments, wildcard } = route::parse(&raw)?;
            if let Some(other) = routes
                .iter()
                .find(|r| r.wildcard == wildcard && same_shape(&r.segments, &segments))
            {
                bail!(
                    "duplicate route `{raw}` (component `{component}`) conflicts with `{}` (component `{}`)",
                    other.raw,
                    other.component
                );
            }
            routes.push(Route {
                raw,
                segments,
                wildcard,
                component,
            });
        }
        Ok(Router { routes })
    }

    /// Every route with its component, in the order of [`RouteMatch::index`].
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .map(|r| (r.raw.as_str(), r.component.as_str()))
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let request: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, &Route, Params, Score)> = None;
        for (index, route) in self.routes.iter().enumerate() {
            let Some(params) = matches(route, &request, path) else {
                continue;
            };
            let param_count = route
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Param(_)))
                .count();
            // Higher is better: exact first, then longer prefixes, then fewer parameters.
            let score = (
                u8::from(!route.wildcard),
                route.segments.len(),
                usize::MAX - param_count,
            );
            if best.as_ref().is_none_or(|(_, _, _, s)| score > *s) {
                best = Some((index, route, params, score));
            }
        }
        let (index, route, params, _) = best?;
        let path_info = if route.wildcard {
            path_info(path, route.segments.len())
        } else {
            String::new()
        };
        let component_route = route
            .raw
            .strip_suffix("/...")
            .unwrap_or(&route.raw)
            .to_string();
        Some(RouteMatch {
            index,
            raw_route: &route.raw,
            component: &route.component,
            component_route,
            path_info,
            params,
        })
    }
}

fn same_shape(a: &[Segment], b: &[Segment]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Segment::Literal(l), Segment::Literal(r)) => l == r,
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        })
}

fn matches(route: &Route, request: &[&str], path: &str) -> Option<Vec<(String, String)>> {
    if route.wildcard {
        if request.len() < route.segments.len() {
            return None;
        }
    } else {
        if request.len() != route.segments.len() {
            return None;
        }
        // An exact route matches the path itself, not the path with a trailing slash.
        if path.len() > 1 && path.ends_with('/') {
            return None;
        }
    }
    let mut params = Vec::new();
    for (seg, actual) in route.segments.iter().zip(request) {
        match seg {
            Segment::Literal(l) if l == actual => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), (*actual).to_string())),
        }
    }
    Some(params)
}

/// What follows the first `consumed` non-empty segments of `path`, keeping its leading `/`.
fn path_info(path: &str, consumed: usize) -> String {
    let mut rest = path;
    for _ in 0..consumed {
        let trimmed = rest.trim_start_matches('/');
        let end = trimmed.find('/').unwrap_or(trimmed.len());
        rest = &trimmed[end..];
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(routes.iter().map(|(r, c)| (r.to_string(), c.to_string()))).unwrap()
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "all"),
            ("/a/...", "a"),
            ("/a/b/...", "ab"),
            ("/a/b", "exact"),
        ]);
        assert_eq!(r.route("/a/b").unwrap().component, "exact");
        assert_eq!(r.route("/a/b/c").unwrap().component, "ab");
        assert_eq!(r.route("/a/b/c").unwrap().path_info, "/c");
        assert_eq!(r.route("/a/x").unwrap().component, "a");
        assert_eq!(r.route("/a").unwrap().component, "a");
        assert_eq!(r.route("/a").unwrap().path_info, "");
        assert_eq!(r.route("/zzz").unwrap().component, "all");
        assert_eq!(r.route("/zzz").unwrap().path_info, "/zzz");
    }

    #[test]
    fn parameters() {
        let r = router(&[
            ("/users/:id", "user"),
            ("/users/me", "me"),
            ("/users/:id/...", "sub"),
        ]);
        assert_eq!(r.route("/users/me").unwrap().component, "me");
        let m = r.route("/users/42").unwrap();
        assert_eq!(m.component, "user");
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        let m = r.route("/users/42/keys/1").unwrap();
        assert_eq!(m.component, "sub");
        assert_eq!(m.path_info, "/keys/1");
        assert_eq!(m.component_route, "/users/:id");
    }

    #[test]
    fn no_match_and_duplicates() {
        let r = router(&[("/a", "a")]);
        assert!(r.route("/b").is_none());
        assert!(r.route("/a/").is_none());
        assert!(r.route("/a/b").is_none());
        assert!(Router::new([("/a".into(), "x".into()), ("/a".into(), "y".into())]).is_err());
        assert!(Router::new([("/:a".into(), "x".into()), ("/:b".into(), "y".into())]).is_err());
    }
}
