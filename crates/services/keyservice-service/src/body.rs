//! The request-body rules of keyservice's small-body routes (`/init`, `/connect`, the operator
//! API): the size check comes first (413, the router's: docs/platform.md, "Design: route
//! tables"), then a JSON object decoded straight into its struct.

use crate::error::{ApiError, ApiResult};

/// Parses a JSON object body without echoing any of it back in the error.
/// Only an object will do: serde's derived structs also accept a JSON array
/// of the field values in order, which is not the documented body.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(match e.classify() {
            serde_json::error::Category::Data => {
                "request body has missing, unknown or mistyped fields"
            }
            _ => "request body is not valid JSON",
        })
    })
}
