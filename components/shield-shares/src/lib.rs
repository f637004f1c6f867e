//! shield-shares: `/shares`, `/shares/encryption`, `/shares/{reference}`, `/keychain`
//! (shield.md §4.3). The only shield component that reaches the network (identity providers,
//! §5) and the key-value store (JWKS cache).

use guest_kit::spin::{SpinDb, SpinFetch, SpinKv, into_spin_response, read_request, variable};
use shield_service::{BODY_LIMIT, Env, Group, OUTBOUND_BODY_LIMIT};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let db = SpinDb::new("shield");
    let kv = SpinKv::new("shield");
    let fetch = SpinFetch {
        max_body: OUTBOUND_BODY_LIMIT,
    };
    let vars = |name: &str| variable(name);
    let env = Env {
        db: &db,
        kv: Some(&kv),
        vars: &vars,
        fetch: Some(&fetch),
        now_ms: guest_kit::unix_now_ms(),
    };
    let request = read_request(req, BODY_LIMIT).await;
    into_spin_response(shield_service::handle(&env, Group::Shares, request))
}
