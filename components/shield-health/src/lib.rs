//! `GET /healthz` (shield.md §4.1): 200 when a trivial query on the shield database succeeds,
//! 503 with `"unhealthy"` otherwise.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::Connection;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    if *req.method() != Method::Get {
        return Ok(json(
            405,
            &serde_json::json!({"message": "Method not allowed", "code": "METHOD_NOT_ALLOWED"}),
        ));
    }
    let healthy = Connection::open("shield")
        .and_then(|c| c.execute("SELECT 1", &[]))
        .is_ok();
    let status = if healthy { "healthy" } else { "unhealthy" };
    let body = serde_json::json!({
        "status": status,
        "at": now_rfc3339(),
        "checks": [{"name": "database", "status": status}],
    });
    Ok(json(if healthy { 200 } else { 503 }, &body))
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// RFC 3339 UTC with second precision, from the WASI wall clock (days-to-civil, Howard Hinnant).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
