//! Bounds on the request head, checked before routing and before any guest runs
//! (docs/OPERATIONS.md, "The front door"). hyper bounds its read buffer too, but answers a
//! head beyond it with a bare status line; below that backstop these limits answer with the
//! JSON error every other refusal has.

use http::{HeaderMap, StatusCode, Uri};

/// Longest request target (path and query), as common reverse proxies allow.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields in one request.
pub const MAX_HEADER_FIELDS: usize = 100;
/// Largest header section, names and values with their separators.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's own limits, a little above ours so that ours answer first: its read buffer (the
/// whole head) and its header-field count.
pub const BACKSTOP_HEAD_BYTES: usize = 64 * 1024;
pub const BACKSTOP_HEADER_FIELDS: usize = 128;

#[derive(Debug, PartialEq, Eq)]
pub enum HeadRejection {
    UriTooLong,
    TooManyHeaders,
    HeadersTooLarge,
}

impl HeadRejection {
    pub fn status(&self) -> StatusCode {
        match self {
            HeadRejection::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadRejection::TooManyHeaders | HeadRejection::HeadersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            HeadRejection::UriTooLong => "URI_TOO_LONG",
            HeadRejection::TooManyHeaders | HeadRejection::HeadersTooLarge => {
                "REQUEST_HEADERS_TOO_LARGE"
            }
        }
    }

    pub fn message(&self) -> String {
        match self {
            HeadRejection::UriTooLong => {
                format!("the request target is longer than {MAX_URI_BYTES} bytes")
            }
            HeadRejection::TooManyHeaders => {
                format!("the request has more than {MAX_HEADER_FIELDS} header fields")
            }
            HeadRejection::HeadersTooLarge => {
                format!("the request's headers are larger than {MAX_HEADER_BYTES} bytes")
            }
        }
    }
}

/// Checks the request target and the header section against the limits above.
pub fn check(uri: &Uri, headers: &HeaderMap) -> Result<(), HeadRejection> {
    // The whole target as sent: an absolute-form one (`GET http://host/path`) counts its
    // scheme and authority too.
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(HeadRejection::UriTooLong);
    }
    if headers.len() > MAX_HEADER_FIELDS {
        return Err(HeadRejection::TooManyHeaders);
    }
    // "name: value\r\n" per field.
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(HeadRejection::HeadersTooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(fields: usize, value_len: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = HeaderValue::from_str(&"v".repeat(value_len)).unwrap();
        for i in 0..fields {
            h.append(
                http::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                value.clone(),
            );
        }
        h
    }

    #[test]
    fn limits_are_inclusive_and_each_has_its_status() {
        let at_limit: Uri = format!("/{}", "a".repeat(MAX_URI_BYTES - 1))
            .parse()
            .unwrap();
        assert_eq!(check(&at_limit, &HeaderMap::new()), Ok(()));
        let over: Uri = format!("/{}", "a".repeat(MAX_URI_BYTES)).parse().unwrap();
        assert_eq!(
            check(&over, &HeaderMap::new()),
            Err(HeadRejection::UriTooLong)
        );
        let root: Uri = "/".parse().unwrap();
        assert_eq!(check(&root, &headers(MAX_HEADER_FIELDS, 1)), Ok(()));
        assert_eq!(
            check(&root, &headers(MAX_HEADER_FIELDS + 1, 1)),
            Err(HeadRejection::TooManyHeaders)
        );
        assert_eq!(
            check(&root, &headers(1, MAX_HEADER_BYTES)),
            Err(HeadRejection::HeadersTooLarge)
        );
        assert_eq!(HeadRejection::UriTooLong.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(
            HeadRejection::HeadersTooLarge.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
