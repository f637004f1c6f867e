//! guardian.md §9: every failure is `{"message","code"}` (+ `fresh_client_token` after a token
//! was consumed, §3) with a fixed status.

use guest_kit::Response;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
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

    pub fn auth_invalid() -> Self {
        Self::new(
            401,
            "AUTH_INVALID",
            "missing, unknown, spent or expired token",
        )
        .with_header("www-authenticate", "Bearer")
    }

    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(405, "METHOD_NOT_ALLOWED", "method not allowed").with_header("allow", allow)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "PAYLOAD_TOO_LARGE",
            format!("request body exceeds {limit} bytes"),
        )
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(503, "NOT_CONFIGURED", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL", message)
    }

    pub fn idp_unavailable(message: impl Into<String>) -> Self {
        Self::new(502, "IDP_UNAVAILABLE", message)
    }

    /// From a guardian-core validation/signing error (its codes are §9 codes).
    pub fn from_core(e: &guardian_core::Error) -> Self {
        let code = e.code();
        Self::new(code.http_status(), code.as_str(), e.message())
    }

    /// The JSON body, optionally with the fresh token of §3.
    pub fn body(&self, fresh_token: Option<&str>) -> Value {
        let mut v = json!({ "message": self.message, "code": self.code });
        if let (Some(t), Some(obj)) = (fresh_token, v.as_object_mut()) {
            obj.insert("fresh_client_token".into(), Value::String(t.to_owned()));
        }
        v
    }

    pub fn into_response(self, fresh_token: Option<&str>) -> Response {
        let mut resp = Response::json(self.status, &self.body(fresh_token));
        for (name, value) in &self.headers {
            resp.set_header(name, value);
        }
        resp
    }
}

/// Storage failures: the message never carries parameters (they may be secret).
pub fn db_err(e: &guest_kit::DbError) -> ApiError {
    ApiError::internal(format!("storage failure: {}", short(e)))
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
