//! keyservice-key: PUT/GET/DELETE /key (keyservice.md §4.3).
//!
//! Thin: converts the request, builds the [`Env`] over this component's Spin
//! grants and hands over to `keyservice-core`.

use guest_kit::spin::{SpinDb, into_spin_response, read_request, variable};
use keyservice_core::{Env, Group};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("keyservice");

    let vars = |name: &str| variable(name);
    // No key-value store: the component must not import that interface.
    let env = Env {
        db: &db,
        kv: None,
        vars: &vars,
        now_ms: guest_kit::unix_now_ms(),
    };
    let request = read_request(req, keyservice_core::body_read_limit(&env, Group::Key)).await;
    into_spin_response(keyservice_core::handle_key(&env, request))
}
