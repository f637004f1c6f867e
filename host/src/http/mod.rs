//! The HTTP trigger: connections (`server`), routing like Spin (`router`), what is decided before
//! a guest runs (`front_door`), and one request's run through a fresh instance (`invoke`).

pub mod front_door;
pub mod invoke;
pub mod router;
pub mod server;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The platform's error body: `{"message","code"}`.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "message": message, "code": code }).to_string()
}

/// The platform's error answer: [`error_body`] as JSON.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<HyperOutgoingBody> {
    let body = error_body(code, message);
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A transient refusal: the client may retry the same request after a second.
pub fn retry_shortly(mut resp: Response<HyperOutgoingBody>) -> Response<HyperOutgoingBody> {
    resp.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
