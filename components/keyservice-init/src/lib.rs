//! keyservice-init: POST /init and GET /keyservice/openapi.json (keyservice.md §4.1).
//!
//! Thin: converts the request, builds the [`Env`] over this component's Spin
//! grants and hands over to `keyservice-core`.

use guest_kit::spin::{SpinDb, SpinKv, into_spin_response, read_request, variable};
use keyservice_core::{Env, Group};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("keyservice");
    let kv = SpinKv::new("keyservice");
    let vars = |name: &str| variable(name);
    // The rate limiter is the only user of the key-value store.
    let env = Env {
        db: &db,
        kv: Some(&kv),
        vars: &vars,
        now_ms: guest_kit::unix_now_ms(),
    };
    let request = read_request(req, keyservice_core::body_read_limit(&env, Group::Init)).await;
    into_spin_response(keyservice_core::handle_init(&env, request))
}
