//! The absolute URI a guest sees: `http://` + a validated authority + the request target that
//! was routed. A `Host` header is only ever an authority: one that carries a path, a query, a
//! fragment or user information is refused, so no header can change the path a component sees
//! after routing and logging chose another (docs/OPERATIONS.md, "The front door").

use std::net::SocketAddr;

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Uri};

/// The request names no usable authority; the message says what to fix.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidAuthority(pub &'static str);

/// Builds the guest URI from the request's own authority (absolute-form target), else its one
/// `Host` header, else the address the connection arrived on.
pub fn guest_uri(
    request_uri: &Uri,
    headers: &HeaderMap,
    local: SocketAddr,
) -> Result<Uri, InvalidAuthority> {
    let mut hosts = headers.get_all(HOST).iter();
    let host_header = hosts.next();
    if hosts.next().is_some() {
        return Err(InvalidAuthority("more than one Host header"));
    }
    let authority = match (request_uri.authority(), host_header) {
        (Some(a), _) => validated(a.as_str())?,
        (None, Some(h)) => validated(
            h.to_str()
                .map_err(|_| InvalidAuthority("the Host header is not ASCII"))?,
        )?,
        (None, None) => validated(&local.to_string())?,
    };
    let target = request_uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority)
        .path_and_query(target)
        .build()
        .map_err(|_| InvalidAuthority("the Host header is not a valid host[:port]"))
}

fn validated(raw: &str) -> Result<Authority, InvalidAuthority> {
    // `Authority` alone would accept `user@host`; a Host header never carries credentials.
    if raw.is_empty() {
        return Err(InvalidAuthority("the Host header is empty"));
    }
    if raw.contains(['/', '?', '#', '@', '\\']) {
        return Err(InvalidAuthority(
            "the Host header must be host[:port] only (no path, query, fragment or user)",
        ));
    }
    raw.parse::<Authority>()
        .map_err(|_| InvalidAuthority("the Host header is not a valid host[:port]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn uri_for(host: Option<&str>, target: &str) -> Result<String, InvalidAuthority> {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(HOST, HeaderValue::from_str(h).unwrap());
        }
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        guest_uri(&target.parse().unwrap(), &headers, local).map(|u| u.to_string())
    }

    #[test]
    fn the_path_is_always_the_routed_target() {
        assert_eq!(
            uri_for(Some("example.com:8080"), "/storage-methods?x=1").unwrap(),
            "http://example.com:8080/storage-methods?x=1"
        );
        assert_eq!(uri_for(None, "/a").unwrap(), "http://127.0.0.1:3000/a");
        assert_eq!(
            uri_for(Some("[::1]:3000"), "/a").unwrap(),
            "http://[::1]:3000/a"
        );
    }

    #[test]
    fn a_host_with_more_than_an_authority_is_refused() {
        for bad in [
            "x/register?",
            "x?y",
            "x#y",
            "user@x",
            "x\\y",
            "",
            "x y",
            "a:b:c",
        ] {
            assert!(uri_for(Some(bad), "/storage-methods").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn two_host_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(HOST, HeaderValue::from_static("a"));
        headers.append(HOST, HeaderValue::from_static("b"));
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert!(guest_uri(&"/x".parse().unwrap(), &headers, local).is_err());
    }
}
