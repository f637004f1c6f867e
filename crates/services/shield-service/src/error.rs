//! Every shield error is `{"message","code"}` with a fixed status; the type is the
//! platform's [`guest_kit::ApiError`], the codes and messages are shield's
//! (upstream Shield's, all in the trait below).

pub(crate) use guest_kit::{ApiError, ApiResult};

/// shield's codes and messages (upstream-compatible: capitalised messages).
pub(crate) trait Shield {
    guest_kit::api_errors! {
        parse_body => 400, "BAD_REQUEST", "failed to parse request body";
        read_body => 400, "BAD_REQUEST", "failed to read request body";
        missing_api_key => 401, "A_MISSING", "Missing API key";
        missing_api_secret => 401, "A_MISSING", "Missing API secret";
        missing_auth_provider => 401, "A_MISSING", "Missing auth provider";
        missing_operator_token => 401, "A_MISSING", "Missing operator token";
        invalid_api_key => 401, "A_INVALID", "Invalid API key or API secret";
        invalid_token => 401, "A_INVALID", "Invalid token";
        invalid_auth_provider => 401, "A_INVALID", "Invalid auth provider";
        invalid_operator_token => 401, "A_INVALID", "Invalid operator token";
        provider_missing => 400, "PV_MISSING", "Missing provider";
        provider_not_found => 404, "PV_NOT_FOUND", "Provider not found";
        jwk_and_pem => 409, "PV_CFG_INVALID", "JWK and PEM cannot be set at the same time";
        provider_exists => 409, "PV_EXISTS",
            "Custom authentication already registered for this project";
        user_id_missing => 400, "US_ID_MISSING", "Missing user ID";
        prereg_failed => 500, "US_PREREG_FAILED", "Failed to pre-register user";
        user_not_found => 404, "US_NOT_FOUND", "User not found";
        share_not_found => 404, "SH_NOT_FOUND", "Share not found";
        share_exists => 409, "SH_EXISTS", "Share already exists";
        part_required => 409, "EC_MISSING",
            "The requested share have project entropy and encryption part is required";
        encryption_not_configured => 409, "EC_MISSING", "Encryption not configured";
        invalid_part => 400, "EC_INVALID", "Invalid encryption part";
        invalid_session => 400, "EC_INVALID", "Invalid encryption session";
        key_exists => 409, "EC_EXISTS", "Encryption part already exists";
        otp_not_supported => 400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA";
        not_found => 404, "NOT_FOUND", "Not found";
        method_not_allowed => 405, "METHOD_NOT_ALLOWED", "Method not allowed";
        not_implemented => 501, "NOT_IMPLEMENTED", "Not implemented";
    }

    fn provider_config(message: &str) -> ApiError {
        ApiError::new(400, "PV_CFG_INVALID", message)
    }

    fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::too_many_requests("Rate limit exceeded", retry_after_secs)
    }

    fn internal(context: &'static str) -> ApiError {
        eprintln!("shield: internal error: {context}");
        ApiError::new(500, "INTERNAL", "Internal error")
    }
}

impl Shield for ApiError {}

/// Storage failures: the storage error text is not logged (some backends quote row values).
pub(crate) fn storage(e: guest_kit::DbError) -> ApiError {
    ApiError::from_storage(&e, || ApiError::internal("storage"))
}
