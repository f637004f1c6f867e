//! shield-project: `/register`, `/storage-methods`, `/project/...`, `/user` and the OpenAPI
//! document (shield.md §4.1). No key-value store, no outbound HTTP.

use guest_kit::spin::{SpinDb, into_spin_response, read_request, variable};
use shield_service::{BODY_LIMIT, Env, Group};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("shield");
    let vars = |name: &str| variable(name);
    let env = Env {
        db: &db,
        kv: None,
        vars: &vars,
        fetch: None,
        now_ms: guest_kit::unix_now_ms(),
    };
    let request = read_request(req, BODY_LIMIT).await;
    into_spin_response(shield_service::handle(&env, Group::Project, request))
}
