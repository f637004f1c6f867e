//! Every keyservice failure is `{"message","code"}` with a fixed status; the type is
//! the platform's [`guest_kit::ApiError`], the codes and messages are keyservice's
//! (listed in its `openapi.json`).

pub(crate) use guest_kit::{ApiError, ApiResult};

/// keyservice's codes and messages.
pub(crate) trait Keyservice {
    fn ss1(err: &sessionist::Error) -> Self;
    fn bearer_invalid() -> Self;
    fn ip_not_allowed() -> Self;
    fn namespace_mismatch() -> Self;
    fn admin_disabled() -> Self;
    fn not_found() -> Self;
    fn key_not_found() -> Self;
    fn namespace_not_found() -> Self;
    fn method_not_allowed(allow: &str) -> Self;
    fn init_token_invalid() -> Self;
    fn namespace_exists() -> Self;
    fn too_large() -> Self;
    fn rate_limited(retry_after_secs: u64) -> Self;
    fn internal(context: &'static str) -> Self;
}

impl Keyservice for ApiError {
    fn ss1(err: &sessionist::Error) -> Self {
        Self::new(401, "AUTH_INVALID", err.message())
            .with_header("www-authenticate", sessionist::WWW_AUTHENTICATE)
    }

    fn bearer_invalid() -> Self {
        Self::new(401, "AUTH_INVALID", "authentication failed")
            .with_header("www-authenticate", "Bearer")
    }

    fn ip_not_allowed() -> Self {
        Self::new(
            403,
            "IP_NOT_ALLOWED",
            "client address not allowed for this namespace",
        )
    }

    fn namespace_mismatch() -> Self {
        Self::new(
            403,
            "NAMESPACE_MISMATCH",
            "body namespace does not match the authenticated namespace",
        )
    }

    fn admin_disabled() -> Self {
        Self::new(
            403,
            "ADMIN_DISABLED",
            "operator API disabled: admin_token is not configured",
        )
    }

    fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "not found")
    }

    fn key_not_found() -> Self {
        Self::new(404, "KEY_NOT_FOUND", "no key stored")
    }

    fn namespace_not_found() -> Self {
        Self::new(404, "NAMESPACE_NOT_FOUND", "namespace not found")
    }

    fn method_not_allowed(allow: &str) -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "method not allowed").with_header("allow", allow)
    }

    fn init_token_invalid() -> Self {
        Self::new(
            409,
            "INIT_TOKEN_INVALID",
            "init token unknown, expired or already used",
        )
    }

    fn namespace_exists() -> Self {
        Self::new(409, "NAMESPACE_EXISTS", "namespace already exists")
    }

    fn too_large() -> Self {
        Self::new(413, "PAYLOAD_TOO_LARGE", "request body too large")
    }

    fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(429, "RATE_LIMITED", "too many requests")
            .with_header("retry-after", retry_after_secs.to_string())
    }

    fn internal(context: &'static str) -> Self {
        eprintln!("keyservice: internal error: {context}");
        Self::new(500, "INTERNAL", "internal error")
    }
}

/// Storage failures: the storage error text is not logged (some backends quote row values in
/// their messages).
pub(crate) fn storage(_: guest_kit::DbError) -> ApiError {
    ApiError::internal("storage")
}
