//! Plain HTTP request/response types, independent of any runtime.

use std::fmt;

/// An incoming request as the component received it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The method as sent (`GET`, `PUT`, ...).
    pub method: String,
    /// The origin-form request target exactly as received: path, then `?query`
    /// if any. Never percent-decoded or normalised, because request signatures
    /// cover these exact bytes.
    pub path_and_query: String,
    /// Header fields in arrival order; names may repeat and are compared
    /// ASCII case-insensitively.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        Self {
            method: method.to_owned(),
            path_and_query: path_and_query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Builder-style header append (tests, adapters).
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The path component (before any `?`).
    pub fn path(&self) -> &str {
        match self.path_and_query.split_once('?') {
            Some((path, _)) => path,
            None => &self.path_and_query,
        }
    }

    /// The query string (after the first `?`), if present.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }

    /// All values of a header, in arrival order.
    pub fn header_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_all(name).next()
    }

    /// The first value of a header, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// How many times a header occurs.
    pub fn header_count(&self, name: &str) -> usize {
        self.header_all(name).count()
    }

    /// Checks the body size against `limit`: the declared `Content-Length`
    /// when present (so an oversized upload is refused before any other work),
    /// and the bytes actually received in every case.
    pub fn check_body_size(&self, limit: usize) -> Result<(), BodySizeError> {
        let mut declared: Option<u64> = None;
        for value in self.header_all("content-length") {
            let parsed = parse_content_length(value).ok_or(BodySizeError::InvalidContentLength)?;
            // Differing repeated Content-Length values are a framing attack.
            if declared.is_some_and(|d| d != parsed) {
                return Err(BodySizeError::InvalidContentLength);
            }
            declared = Some(parsed);
        }
        let limit64 = u64::try_from(limit).unwrap_or(u64::MAX);
        if declared.is_some_and(|d| d > limit64) || self.body.len() > limit {
            return Err(BodySizeError::TooLarge);
        }
        Ok(())
    }
}

// Bodies and header values may be secrets (keys, tokens, Authorization):
// `Debug` shows only their shape, so a stray `{:?}` cannot leak them.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [
            ("method", &self.method),
            ("path_and_query", &self.path_and_query),
        ];
        redacted(f, "Request", &fields, &self.headers, &self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [("status", &self.status)];
        redacted(f, "Response", &fields, &self.headers, &self.body)
    }
}

/// The `Debug` of a message whose header values and body may be secret: its `fields`, then its
/// header names and body size only.
fn redacted<T: fmt::Debug, V>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    fields: &[(&str, &T)],
    headers: &[(String, V)],
    body: &[u8],
) -> fmt::Result {
    let mut out = f.debug_struct(name);
    for (field, value) in fields {
        out.field(field, value);
    }
    let header_names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    out.field("header_names", &header_names)
        .field("body_len", &body.len())
        .finish()
}

/// The value of the first header called `name` (ASCII case-insensitive).
fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_content_length(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Saturate absurd values: they are simply "too large".
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// Percent-decodes one path segment or query part (`+` is not special here); `None` if
/// malformed or not UTF-8. Route parameters are decoded by the router, once.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            // Two hex digits exactly: `from_str_radix` alone would also take a sign (`%+1`).
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|d| d.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes one name or value of a query string (`application/x-www-form-urlencoded`): `+` is a
/// space, then [`percent_decode`] (so `%2B` stays a plus).
pub fn form_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySizeError {
    TooLarge,
    InvalidContentLength,
}

/// Longest `X-Request-ID` kept, in bytes.
pub const REQUEST_ID_MAX: usize = 128;

/// An `X-Request-ID` kept as the request's id: 1 to [`REQUEST_ID_MAX`] bytes of
/// `A-Z a-z 0-9 - _ . : + / = @`. That covers UUIDs, ULIDs, trace ids and base64 ids, and keeps
/// anything a header, a log line, an audit record or an upstream API could choke on (spaces,
/// quotes, commas, control characters, non-ASCII, kilobytes) out.
pub fn valid_request_id(v: &str) -> bool {
    (1..=REQUEST_ID_MAX).contains(&v.len())
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@')
        })
}

/// The request's id: its `X-Request-ID` when valid (the keyward host always sets one, and
/// logs it), else a fresh UUIDv7 (under a host that sets none).
pub fn request_id(req: &Request, now_ms: i64) -> String {
    req.header_str("x-request-id")
        .filter(|v| valid_request_id(v))
        .map_or_else(|| uuid_v7_hex(now_ms), str::to_owned)
}

/// A UUIDv7 for `now_ms` as 32 lowercase hex characters without dashes.
pub fn uuid_v7_hex(now_ms: i64) -> String {
    let mut b = [0u8; 16];
    // Without randomness the id is still unique enough to correlate logs; it is never a secret.
    let _ = getrandom::fill(&mut b);
    let ms = u64::try_from(now_ms).unwrap_or(0).to_be_bytes();
    for (dst, src) in b.iter_mut().zip(ms.iter().skip(2)) {
        *dst = *src;
    }
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x70;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    hex::encode(b)
}

/// A response to send. Header names are stored lower-case; each name occurs
/// at most once (Spin's response type keeps one value per name).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response with `Content-Type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::json_text(status, value.to_string())
    }

    /// A JSON document already serialised (a service's OpenAPI description), sent as it is.
    pub fn json_text(status: u16, text: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .with_header("content-type", "application/json")
            .with_body(text)
    }

    /// Sets a header, replacing any previous value of that name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.set_header(name, value);
        self
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// An outbound HTTP request (identity providers, JWKS documents). Service cores
/// build it and hand it to a [`Fetch`]; the `spin` module sends it over
/// `wasi:http`, tests answer it in memory.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Connect, first-byte and between-bytes timeout, milliseconds (0 = the host's default).
    pub timeout_ms: u64,
}

impl OutboundRequest {
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            ..Self::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

// Outbound headers carry credentials (Authorization): `Debug` shows names only.
impl fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [("method", &self.method), ("url", &self.url)];
        redacted(f, "OutboundRequest", &fields, &self.headers, &self.body)
    }
}

/// The answer to an [`OutboundRequest`], body fully read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Why an outbound request got no response (denied by the host, network,
/// timeout, body too large). The text never contains request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound request failed: {0}")]
pub struct FetchError(pub String);

/// Sends outbound HTTP requests synchronously.
pub trait Fetch {
    fn fetch(&self, req: &OutboundRequest) -> Result<OutboundResponse, FetchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_form_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        // Malformed escapes, a sign where a hex digit belongs, and bytes that are not UTF-8.
        for bad in ["a%2", "%", "%zz", "%+1", "%-1", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert_eq!(form_decode("a+b%2B").as_deref(), Some("a b+"));
        assert_eq!(form_decode("%+1"), None);
    }

    #[test]
    fn headers_are_case_insensitive_and_repeatable() {
        let req = Request::new("GET", "/a/b?x=1?y")
            .with_header("X-Date", "one")
            .with_header("x-date", "two");
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.query(), Some("x=1?y"));
        assert_eq!(req.header_str("X-DATE"), Some("one"));
        assert_eq!(req.header_count("x-date"), 2);
        assert!(req.header("authorization").is_none());
    }

    #[test]
    fn body_size() {
        let req = Request::new("PUT", "/k").with_body(vec![0u8; 10]);
        assert_eq!(req.check_body_size(10), Ok(()));
        assert_eq!(req.check_body_size(9), Err(BodySizeError::TooLarge));
        let declared = Request::new("PUT", "/k").with_header("Content-Length", "11");
        assert_eq!(declared.check_body_size(10), Err(BodySizeError::TooLarge));
        let huge =
            Request::new("PUT", "/k").with_header("Content-Length", "99999999999999999999999");
        assert_eq!(huge.check_body_size(10), Err(BodySizeError::TooLarge));
        let bad = Request::new("PUT", "/k").with_header("Content-Length", "-1");
        assert_eq!(
            bad.check_body_size(10),
            Err(BodySizeError::InvalidContentLength)
        );
        let conflicting = Request::new("PUT", "/k")
            .with_header("Content-Length", "1")
            .with_header("Content-Length", "2");
        assert_eq!(
            conflicting.check_body_size(10),
            Err(BodySizeError::InvalidContentLength)
        );
    }
}
