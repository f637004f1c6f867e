//! guardian-sign: the enduser routes (guardian.md §6): /guardian/sign (GET, POST), /sign-tx, /sign-message, /sign-typed-data, /address.
//!
//! Grants: the `guardian` database and `master_key` (to open mnemonics). No key-value store, no
//! outbound hosts.
//!
//! Thin: converts the request, builds the [`Env`] over this component's Spin grants and hands
//! over to `guardian-service`.

use guardian_service::Env;
use guest_kit::spin::{SpinDb, into_spin_response, read_request, variable};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("guardian");
    let vars = |name: &str| variable(name);
    let env = Env {
        db: &db,
        kv: None,
        vars: &vars,
        now_ms: guest_kit::unix_now_ms(),
        outbound: None,
    };
    let request = read_request(req, guardian_service::body_read_limit(&env)).await;
    into_spin_response(guardian_service::handle_sign(&env, request))
}
