//! shield.md §2: every error is `{"message","code"}` with a fixed status.

use guest_kit::{Response, json_error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }
    pub fn parse_body() -> Self {
        Self::bad_request("failed to parse request body")
    }
    pub fn read_body() -> Self {
        Self::bad_request("failed to read request body")
    }
    pub fn missing_api_key() -> Self {
        Self::new(401, "A_MISSING", "Missing API key")
    }
    pub fn missing_api_secret() -> Self {
        Self::new(401, "A_MISSING", "Missing API secret")
    }
    pub fn missing_auth_provider() -> Self {
        Self::new(401, "A_MISSING", "Missing auth provider")
    }
    pub fn missing_operator_token() -> Self {
        Self::new(401, "A_MISSING", "Missing operator token")
    }
    pub fn invalid_api_key() -> Self {
        Self::new(401, "A_INVALID", "Invalid API key or API secret")
    }
    pub fn invalid_token() -> Self {
        Self::new(401, "A_INVALID", "Invalid token")
    }
    pub fn invalid_auth_provider() -> Self {
        Self::new(401, "A_INVALID", "Invalid auth provider")
    }
    pub fn invalid_operator_token() -> Self {
        Self::new(401, "A_INVALID", "Invalid operator token")
    }
    pub fn provider_missing() -> Self {
        Self::new(400, "PV_MISSING", "Missing provider")
    }
    pub fn provider_not_found() -> Self {
        Self::new(404, "PV_NOT_FOUND", "Provider not found")
    }
    pub fn provider_config(message: &str) -> Self {
        Self::new(400, "PV_CFG_INVALID", message)
    }
    pub fn jwk_and_pem() -> Self {
        Self::new(
            409,
            "PV_CFG_INVALID",
            "JWK and PEM cannot be set at the same time",
        )
    }
    pub fn provider_exists() -> Self {
        Self::new(
            409,
            "PV_EXISTS",
            "Custom authentication already registered for this project",
        )
    }
    pub fn user_id_missing() -> Self {
        Self::new(400, "US_ID_MISSING", "Missing user ID")
    }
    pub fn prereg_failed() -> Self {
        Self::new(500, "US_PREREG_FAILED", "Failed to pre-register user")
    }
    pub fn user_not_found() -> Self {
        Self::new(404, "US_NOT_FOUND", "User not found")
    }
    pub fn share_not_found() -> Self {
        Self::new(404, "SH_NOT_FOUND", "Share not found")
    }
    pub fn share_exists() -> Self {
        Self::new(409, "SH_EXISTS", "Share already exists")
    }
    pub fn part_required() -> Self {
        Self::new(
            409,
            "EC_MISSING",
            "The requested share have project entropy and encryption part is required",
        )
    }
    pub fn encryption_not_configured() -> Self {
        Self::new(409, "EC_MISSING", "Encryption not configured")
    }
    pub fn invalid_part() -> Self {
        Self::new(400, "EC_INVALID", "Invalid encryption part")
    }
    pub fn invalid_session() -> Self {
        Self::new(400, "EC_INVALID", "Invalid encryption session")
    }
    pub fn key_exists() -> Self {
        Self::new(409, "EC_EXISTS", "Encryption part already exists")
    }
    pub fn otp_not_supported() -> Self {
        Self::new(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA")
    }
    pub fn rate_limited(retry_after_secs: i64) -> Self {
        let mut e = Self::new(429, "RATE_LIMITED", "Rate limit exceeded");
        e.headers
            .push(("retry-after", retry_after_secs.to_string()));
        e
    }
    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "Not found")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "Method not allowed")
    }
    pub fn not_implemented() -> Self {
        Self::new(501, "NOT_IMPLEMENTED", "Not implemented")
    }

    /// An unexpected failure. `context` is a fixed string for the operator's log; it never
    /// carries request data or secret material, and the client sees no detail.
    pub fn internal(context: &'static str) -> Self {
        eprintln!("shield: internal error: {context}");
        Self::new(500, "INTERNAL", "Internal error")
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
        // Storage error texts are not logged: some backends quote row values.
        ApiError::internal("storage")
    }
}
