//! Just enough URL handling for origin checks (`okta_base_url`, Okta `_links` hrefs).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    /// Host as written, lower-cased (IPv6 keeps its brackets).
    pub host: String,
    pub port: u16,
    /// Everything after the authority (`/path?query`), possibly empty.
    pub rest: String,
}

impl Url {
    pub fn parse(s: &str) -> Option<Url> {
        if s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (scheme, after) = s.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inner, tail) = v6.split_once(']')?;
            let port = match tail {
                "" => default_port,
                t => t.strip_prefix(':')?.parse().ok()?,
            };
            (format!("[{}]", inner.to_ascii_lowercase()), port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), p.parse().ok()?),
                None => (authority.to_ascii_lowercase(), default_port),
            }
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        {
            return None;
        }
        Some(Url {
            scheme,
            host,
            port,
            rest: rest.to_owned(),
        })
    }

    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
    }

    /// `scheme://host[:port]` without a default port.
    pub fn origin(&self) -> String {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_origin() {
        let u = Url::parse("https://Dev-1.okta.com/api/v1/authn").expect("url");
        assert_eq!(u.host, "dev-1.okta.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.rest, "/api/v1/authn");
        let b = Url::parse("https://dev-1.okta.com:443").expect("url");
        assert!(u.same_origin(&b));
        assert_eq!(b.origin(), "https://dev-1.okta.com");
        assert!(!u.same_origin(&Url::parse("https://evil.com/x").expect("url")));
        assert!(!u.same_origin(&Url::parse("http://dev-1.okta.com").expect("url")));
        assert!(Url::parse("https://a@b.com").is_none());
        assert!(Url::parse("ftp://b.com").is_none());
        assert!(Url::parse("https://").is_none());
        assert!(Url::parse("http://[::1]:8080/x").expect("v6").is_loopback());
        assert_eq!(encode_segment("00u/ä"), "00u%2F%C3%A4");
    }
}
