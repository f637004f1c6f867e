//! keyservice.md §5: every failure is `{"message","code"}` with a fixed status.

use guest_kit::{Response, json_error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    /// A `ss1` failure (§3.2): only the two public messages, never the reason.
    pub fn ss1(err: &sessionist::Error) -> Self {
        Self::new(401, "AUTH_INVALID", err.message())
            .with_header("www-authenticate", sessionist::WWW_AUTHENTICATE)
    }

    pub fn bearer_invalid() -> Self {
        Self::new(401, "AUTH_INVALID", "authentication failed")
            .with_header("www-authenticate", "Bearer")
    }

    pub fn ip_not_allowed() -> Self {
        Self::new(
            403,
            "IP_NOT_ALLOWED",
            "client address not allowed for this namespace",
        )
    }

    pub fn namespace_mismatch() -> Self {
        Self::new(
            403,
            "NAMESPACE_MISMATCH",
            "body namespace does not match the authenticated namespace",
        )
    }

    pub fn admin_disabled() -> Self {
        Self::new(
            403,
            "ADMIN_DISABLED",
            "operator API disabled: admin_token is not configured",
        )
    }

    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "not found")
    }

    pub fn key_not_found() -> Self {
        Self::new(404, "KEY_NOT_FOUND", "no key stored")
    }

    pub fn namespace_not_found() -> Self {
        Self::new(404, "NAMESPACE_NOT_FOUND", "namespace not found")
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "method not allowed").with_header("allow", allow)
    }

    pub fn init_token_invalid() -> Self {
        Self::new(
            409,
            "INIT_TOKEN_INVALID",
            "init token unknown, expired or already used",
        )
    }

    pub fn namespace_exists() -> Self {
        Self::new(409, "NAMESPACE_EXISTS", "namespace already exists")
    }

    pub fn too_large() -> Self {
        Self::new(413, "PAYLOAD_TOO_LARGE", "request body too large")
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(429, "RATE_LIMITED", "too many requests")
            .with_header("retry-after", retry_after_secs.to_string())
    }

    /// An unexpected failure. `context` is a fixed string for the operator's
    /// log; it never contains request data or secret material, and the client
    /// sees no detail at all.
    pub fn internal(context: &'static str) -> Self {
        eprintln!("keyservice: internal error: {context}");
        Self::new(500, "INTERNAL", "internal error")
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(503, "NOT_CONFIGURED", message)
    }

    pub fn into_response(self) -> Response {
        let mut resp = json_error(self.status, self.code, &self.message);
        for (name, value) in &self.headers {
            resp.set_header(name, value);
        }
        resp
    }
}

impl From<guest_kit::DbError> for ApiError {
    fn from(_: guest_kit::DbError) -> Self {
        // The storage error text is not logged: some backends quote row
        // values in their messages.
        ApiError::internal("storage")
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Collapses a handler result into a response.
pub(crate) fn respond(result: ApiResult<Response>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}
