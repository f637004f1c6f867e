//! Every guardian failure is `{"message","code"}` (+ `fresh_client_token` after a token was
//! consumed) with a fixed status (codes in its `openapi.json`); the type is the platform's
//! [`guest_kit::ApiError`], the codes and messages are guardian's.

pub use guest_kit::ApiError;

/// guardian's codes and messages.
pub(crate) trait Guardian {
    fn auth_invalid() -> Self;
    fn not_found() -> Self;
    fn method_not_allowed(allow: &str) -> Self;
    fn too_large(limit: usize) -> Self;
    fn internal(message: impl Into<String>) -> Self;
    fn idp_unavailable(message: impl Into<String>) -> Self;
    fn from_core(e: &guardian_core::Error) -> Self;
}

impl Guardian for ApiError {
    fn auth_invalid() -> Self {
        Self::new(
            401,
            "AUTH_INVALID",
            "missing, unknown, spent or expired token",
        )
        .with_header("www-authenticate", "Bearer")
    }

    fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "no such route")
    }

    fn method_not_allowed(allow: &str) -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "method not allowed").with_header("allow", allow)
    }

    fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "PAYLOAD_TOO_LARGE",
            format!("request body exceeds {limit} bytes"),
        )
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL", message)
    }

    fn idp_unavailable(message: impl Into<String>) -> Self {
        Self::new(502, "IDP_UNAVAILABLE", message)
    }

    fn from_core(e: &guardian_core::Error) -> Self {
        let code = e.code();
        Self::new(code.http_status(), code.as_str(), e.message())
    }
}

/// Storage failures: the message never carries parameters (they may be secret).
pub fn db_err(e: &guest_kit::DbError) -> ApiError {
    ApiError::from_storage(e, || {
        ApiError::internal(format!("storage failure: {}", short(e)))
    })
}

fn short(e: &guest_kit::DbError) -> &'static str {
    match e {
        guest_kit::DbError::NoSuchDatabase => "no such database",
        guest_kit::DbError::AccessDenied => "access denied",
        guest_kit::DbError::InvalidConnection => "invalid connection",
        guest_kit::DbError::DatabaseFull => "database full",
        guest_kit::DbError::Io(_) => "i/o error",
    }
}
