//! Every shield error is `{"message","code"}` with a fixed status; the type is the
//! platform's [`guest_kit::ApiError`], the codes and messages are shield's
//! (upstream Shield's, all in the trait below).

pub(crate) use guest_kit::{ApiError, ApiResult};

/// shield's codes and messages (upstream-compatible: capitalised messages).
pub(crate) trait Shield {
    fn parse_body() -> Self;
    fn read_body() -> Self;
    fn missing_api_key() -> Self;
    fn missing_api_secret() -> Self;
    fn missing_auth_provider() -> Self;
    fn missing_operator_token() -> Self;
    fn invalid_api_key() -> Self;
    fn invalid_token() -> Self;
    fn invalid_auth_provider() -> Self;
    fn invalid_operator_token() -> Self;
    fn provider_missing() -> Self;
    fn provider_not_found() -> Self;
    fn provider_config(message: &str) -> Self;
    fn jwk_and_pem() -> Self;
    fn provider_exists() -> Self;
    fn user_id_missing() -> Self;
    fn prereg_failed() -> Self;
    fn user_not_found() -> Self;
    fn share_not_found() -> Self;
    fn share_exists() -> Self;
    fn part_required() -> Self;
    fn encryption_not_configured() -> Self;
    fn invalid_part() -> Self;
    fn invalid_session() -> Self;
    fn key_exists() -> Self;
    fn otp_not_supported() -> Self;
    fn rate_limited(retry_after_secs: u64) -> Self;
    fn not_found() -> Self;
    fn method_not_allowed() -> Self;
    fn not_implemented() -> Self;
    fn internal(context: &'static str) -> Self;
}

impl Shield for ApiError {
    fn parse_body() -> Self {
        Self::bad_request("failed to parse request body")
    }

    fn read_body() -> Self {
        Self::bad_request("failed to read request body")
    }

    fn missing_api_key() -> Self {
        Self::new(401, "A_MISSING", "Missing API key")
    }

    fn missing_api_secret() -> Self {
        Self::new(401, "A_MISSING", "Missing API secret")
    }

    fn missing_auth_provider() -> Self {
        Self::new(401, "A_MISSING", "Missing auth provider")
    }

    fn missing_operator_token() -> Self {
        Self::new(401, "A_MISSING", "Missing operator token")
    }

    fn invalid_api_key() -> Self {
        Self::new(401, "A_INVALID", "Invalid API key or API secret")
    }

    fn invalid_token() -> Self {
        Self::new(401, "A_INVALID", "Invalid token")
    }

    fn invalid_auth_provider() -> Self {
        Self::new(401, "A_INVALID", "Invalid auth provider")
    }

    fn invalid_operator_token() -> Self {
        Self::new(401, "A_INVALID", "Invalid operator token")
    }

    fn provider_missing() -> Self {
        Self::new(400, "PV_MISSING", "Missing provider")
    }

    fn provider_not_found() -> Self {
        Self::new(404, "PV_NOT_FOUND", "Provider not found")
    }

    fn provider_config(message: &str) -> Self {
        Self::new(400, "PV_CFG_INVALID", message)
    }

    fn jwk_and_pem() -> Self {
        Self::new(
            409,
            "PV_CFG_INVALID",
            "JWK and PEM cannot be set at the same time",
        )
    }

    fn provider_exists() -> Self {
        Self::new(
            409,
            "PV_EXISTS",
            "Custom authentication already registered for this project",
        )
    }

    fn user_id_missing() -> Self {
        Self::new(400, "US_ID_MISSING", "Missing user ID")
    }

    fn prereg_failed() -> Self {
        Self::new(500, "US_PREREG_FAILED", "Failed to pre-register user")
    }

    fn user_not_found() -> Self {
        Self::new(404, "US_NOT_FOUND", "User not found")
    }

    fn share_not_found() -> Self {
        Self::new(404, "SH_NOT_FOUND", "Share not found")
    }

    fn share_exists() -> Self {
        Self::new(409, "SH_EXISTS", "Share already exists")
    }

    fn part_required() -> Self {
        Self::new(
            409,
            "EC_MISSING",
            "The requested share have project entropy and encryption part is required",
        )
    }

    fn encryption_not_configured() -> Self {
        Self::new(409, "EC_MISSING", "Encryption not configured")
    }

    fn invalid_part() -> Self {
        Self::new(400, "EC_INVALID", "Invalid encryption part")
    }

    fn invalid_session() -> Self {
        Self::new(400, "EC_INVALID", "Invalid encryption session")
    }

    fn key_exists() -> Self {
        Self::new(409, "EC_EXISTS", "Encryption part already exists")
    }

    fn otp_not_supported() -> Self {
        Self::new(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA")
    }

    fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(429, "RATE_LIMITED", "Rate limit exceeded")
            .with_header("retry-after", retry_after_secs.to_string())
    }

    fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "Not found")
    }

    fn method_not_allowed() -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "Method not allowed")
    }

    fn not_implemented() -> Self {
        Self::new(501, "NOT_IMPLEMENTED", "Not implemented")
    }

    fn internal(context: &'static str) -> Self {
        eprintln!("shield: internal error: {context}");
        Self::new(500, "INTERNAL", "Internal error")
    }
}

/// Storage failures: the storage error text is not logged (some backends quote row values).
pub(crate) fn storage(_: guest_kit::DbError) -> ApiError {
    ApiError::internal("storage")
}
