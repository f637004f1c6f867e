//! guardian-admin: POST /guardian/authorize (guardian.md §7).
//!
//! Grants: the `guardian` database, `master_key` (seals the Okta API token override) and
//! `admin_token`. It never opens a mnemonic.
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
    into_spin_response(guardian_service::handle_authorize(&env, request))
}
