//! The one error type of every keyward service: a status, a machine-readable `code` and a
//! human-readable `message`, sent as `{"message","code"}` (docs/keyservice.md, docs/shield.md
//! and docs/guardian.md list each service's codes). Each service keeps its own codes and
//! messages as constructors on this type (an extension trait in its `error` module, whose fixed
//! errors are one [`crate::api_errors!`] table).

use crate::http::Response;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Response headers that go with the error (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// Extra members of the JSON body after `message` and `code` (guardian's
    /// `fresh_client_token`).
    pub fields: Vec<(&'static str, String)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            fields: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// 400 `BAD_REQUEST`, the same code in every service.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    /// 429 `RATE_LIMITED` with `Retry-After`, the same code and header in every service (each
    /// words its own message), for a [`crate::ratelimit::Refusal::Limited`].
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(429, "RATE_LIMITED", message)
            .with_header("retry-after", retry_after_secs.to_string())
    }

    /// 503 `NOT_CONFIGURED`: the deployment is misconfigured (a required variable is missing,
    /// or a variable's value is invalid: see [`crate::config`]). The message names the variable
    /// and never quotes its value, which may be a secret.
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(503, "NOT_CONFIGURED", message)
    }

    /// A storage failure as every service answers it. A full disk is 503 `STORAGE_FULL` with
    /// `Retry-After` (docs/OPERATIONS.md, "Storage full"): the request's transaction was rolled
    /// back, so nothing of it was stored, and requests resume once there is room. Anything else
    /// is the service's own `internal` error, made only then.
    pub fn from_storage(e: &crate::DbError, internal: impl FnOnce() -> Self) -> Self {
        match e {
            crate::DbError::DatabaseFull => Self::new(
                503,
                "STORAGE_FULL",
                "the service's storage is full, so nothing was stored; retry later",
            )
            .with_header("retry-after", "60"),
            _ => internal(),
        }
    }

    /// The JSON body: `{"message","code"}` and any extra fields.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), self.message.clone().into());
        body.insert("code".into(), self.code.into());
        for (name, value) in &self.fields {
            body.insert((*name).into(), value.clone().into());
        }
        serde_json::Value::Object(body)
    }

    pub fn into_response(self) -> Response {
        let mut resp = Response::json(self.status, &self.body());
        for (name, value) in &self.headers {
            resp.set_header(name, value);
        }
        resp
    }
}

/// A service's fixed errors as a table, written inside its error trait: each row
/// `name => status, "CODE", "message";` is a constructor `fn name() -> ApiError`, so a status,
/// its code and its message read on one line. Constructors that take arguments or add headers
/// are ordinary methods beside the table.
///
/// ```ignore
/// pub(crate) trait Keyservice {
///     guest_kit::api_errors! {
///         not_found => 404, "NOT_FOUND", "not found";
///     }
///     fn rate_limited(retry_after_secs: u64) -> ApiError { … }
/// }
/// impl Keyservice for ApiError {}
/// ```
#[macro_export]
macro_rules! api_errors {
    ($($(#[$attr:meta])* $name:ident => $status:literal, $code:literal, $message:literal;)*) => {
        $(
            $(#[$attr])*
            fn $name() -> $crate::ApiError {
                $crate::ApiError::new($status, $code, $message)
            }
        )*
    };
}

/// Collapses a handler result into a response.
pub fn respond(result: ApiResult<Response>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_headers_and_fields() {
        let resp = ApiError::new(401, "AUTH_INVALID", "no")
            .with_header("www-authenticate", "Bearer")
            .with_field("fresh_client_token", "t")
            .into_response();
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(
            String::from_utf8(resp.body).ok().as_deref(),
            Some(r#"{"code":"AUTH_INVALID","fresh_client_token":"t","message":"no"}"#)
        );
        let quoted = ApiError::new(404, "NOT_FOUND", "not \"found\"").into_response();
        let v: serde_json::Value = serde_json::from_slice(&quoted.body).expect("json");
        assert_eq!(v["message"], "not \"found\"");
    }
}
