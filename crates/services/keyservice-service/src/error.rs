//! Every keyservice failure is `{"message","code"}` with a fixed status; the type is
//! the platform's [`guest_kit::ApiError`], the codes and messages are keyservice's
//! (listed in its `openapi.json`).

pub(crate) use guest_kit::{ApiError, ApiResult};

/// keyservice's codes and messages.
pub(crate) trait Keyservice {
    guest_kit::api_errors! {
        ip_not_allowed => 403, "IP_NOT_ALLOWED", "client address not allowed for this namespace";
        namespace_mismatch => 403, "NAMESPACE_MISMATCH",
            "body namespace does not match the authenticated namespace";
        admin_disabled => 403, "ADMIN_DISABLED",
            "operator API disabled: admin_token is not configured";
        not_found => 404, "NOT_FOUND", "not found";
        key_not_found => 404, "KEY_NOT_FOUND", "no key stored";
        namespace_not_found => 404, "NAMESPACE_NOT_FOUND",
            "namespace not found: GET /admin/namespaces lists the namespaces";
        user_not_found => 404, "USER_NOT_FOUND",
            "no session and no stored key for this user in this namespace: the user id is the \
             Real Service's userId, percent-encoded in the path and matched byte for byte";
        session_not_found => 404, "SESSION_NOT_FOUND",
            "no session with this id for this user: GET \
             /admin/namespaces/{namespace}/users/{user}/sessions lists their session ids";
        init_token_invalid => 409, "INIT_TOKEN_INVALID",
            "init token unknown, expired or already used";
        namespace_exists => 409, "NAMESPACE_EXISTS", "namespace already exists";
        rotation_conflict => 409, "ROTATION_CONFLICT",
            "the namespace secret was rotated by another request meanwhile; nothing was changed \
             by this one: send it again to rotate once more";
        too_large => 413, "PAYLOAD_TOO_LARGE", "request body too large";
    }

    fn ss1(err: &sessionist::Error) -> ApiError {
        ApiError::new(401, "AUTH_INVALID", err.message())
            .with_header("www-authenticate", sessionist::WWW_AUTHENTICATE)
    }

    fn bearer_invalid() -> ApiError {
        ApiError::new(401, "AUTH_INVALID", "authentication failed")
            .with_header("www-authenticate", "Bearer")
    }

    fn method_not_allowed(allow: &str) -> ApiError {
        ApiError::new(405, "METHOD_NOT_ALLOWED", "method not allowed").with_header("allow", allow)
    }

    fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::too_many_requests("too many requests", retry_after_secs)
    }

    fn internal(context: &'static str) -> ApiError {
        eprintln!("keyservice: internal error: {context}");
        ApiError::new(500, "INTERNAL", "internal error")
    }
}

impl Keyservice for ApiError {}

/// Storage failures: the storage error text is not logged (some backends quote row values in
/// their messages).
pub(crate) fn storage(e: guest_kit::DbError) -> ApiError {
    ApiError::from_storage(&e, || ApiError::internal("storage"))
}
