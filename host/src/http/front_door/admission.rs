//! Admission before instantiation: the host reads the whole request body itself, bounded in size
//! and in time, and only then takes an instance slot. A client that sends its body slowly holds a
//! socket, never an instance (docs/OPERATIONS.md, "The front door").

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// Why a request was turned away at the door; each becomes a 4xx JSON error.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyRejection {
    TooLarge { max: usize },
    TooSlow { within: Duration },
    Malformed,
}

impl BodyRejection {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRejection::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyRejection::Malformed => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            BodyRejection::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
            BodyRejection::TooSlow { .. } => "REQUEST_TIMEOUT",
            BodyRejection::Malformed => "BAD_REQUEST",
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyRejection::TooLarge { max } => {
                format!("the request body is larger than this route accepts ({max} bytes)")
            }
            BodyRejection::TooSlow { within } => format!(
                "the request body did not arrive within {} s; send it in one go",
                within.as_secs_f64()
            ),
            BodyRejection::Malformed => "the request body could not be read".to_owned(),
        }
    }
}

/// A declared `Content-Length` over `max` is refused before a byte of the body is read.
pub fn check_declared_length(headers: &http::HeaderMap, max: usize) -> Result<(), BodyRejection> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > u64::try_from(max).unwrap_or(u64::MAX) => {
            Err(BodyRejection::TooLarge { max })
        }
        _ => Ok(()),
    }
}

/// Reads the whole body: at most `max` bytes, all of it within `within`.
pub async fn read_body(
    body: Incoming,
    max: usize,
    within: Duration,
) -> Result<Bytes, BodyRejection> {
    let collecting = Limited::new(body, max).collect();
    match tokio::time::timeout(within, collecting).await {
        Err(_) => Err(BodyRejection::TooSlow { within }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(BodyRejection::TooLarge { max })
        }
        Ok(Err(_)) => Err(BodyRejection::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length_over_the_limit_is_refused_up_front() {
        let mut h = http::HeaderMap::new();
        h.insert(CONTENT_LENGTH, http::HeaderValue::from_static("1001"));
        assert_eq!(
            check_declared_length(&h, 1000),
            Err(BodyRejection::TooLarge { max: 1000 })
        );
        assert_eq!(check_declared_length(&h, 1001), Ok(()));
        assert_eq!(check_declared_length(&http::HeaderMap::new(), 0), Ok(()));
    }
}
