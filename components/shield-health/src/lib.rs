//! `GET /healthz` (shield.md §4.1): 200 when a trivial query on the shield database succeeds,
//! 503 with `"unhealthy"` otherwise; `X-Request-ID` and CORS as every shield route (§1).

use guest_kit::spin::{SpinDb, into_spin_response, read_request};
use shield_service::Env;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("shield");
    // No variables: the health check reads none (and must not import the interface).
    let vars = |_: &str| None;
    let env = Env {
        db: &db,
        kv: None,
        vars: &vars,
        fetch: None,
        now_ms: guest_kit::unix_now_ms(),
    };
    let request = read_request(req, 0).await;
    into_spin_response(shield_service::health(&env, &request))
}
