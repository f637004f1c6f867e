//! docs/guardian.md, "Design: export": `POST /guardian/export` — the mnemonic, only to the login
//! token of a fresh authentication made for guardian (a `reauth` token).

use guest_kit::{Request, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::{Env, config, keys, store, tokens};

/// Path, method and body size were checked by the router. Runs in the request's transaction:
/// the consumed token, the export log row and the audit record commit together.
pub(crate) fn run(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    // Named first, so a refused export (disabled, a bad or old token) is recorded too.
    env.audit.action("key.export");
    if !config::ALLOW_EXPORT.read(env)? {
        return Err(ApiError::new(
            403,
            "EXPORT_DISABLED",
            "key export is disabled on this deployment",
        ));
    }
    let master = config::master_key(env)?;
    let token = tokens::presented(req)?;
    env.audit.detail("token", store::token_id(&token));
    let max_age = config::EXPORT_MAX_LOGIN_AGE_SECONDS.read_ms(env)?;
    let row = store::consume_login_token(
        env.db,
        &token,
        env.now_ms,
        env.now_ms.saturating_sub(max_age),
    )?;
    let Some(row) = row else {
        if let Some(user_id) = store::token_user(env.db, &token, env.now_ms)? {
            env.audit.actor(&tokens::actor(&user_id));
            return Err(ApiError::new(
                403,
                "FRESH_LOGIN_REQUIRED",
                format!(
                    "export needs the client_token of a login whose authentication is at most {} s \
                     old and was made for guardian: log in again with Okta, or with an id_token \
                     that answers the login's nonce and carries a recent auth_time, and export \
                     with that login's token",
                    max_age / 1000
                ),
            ));
        }
        return Err(ApiError::auth_invalid());
    };
    env.audit.actor(&tokens::actor(&row.user_id));
    let mnemonic = keys::open_mnemonic(env, &master, &row.user_id)?;
    let address = mnemonic
        .derive_address(0)
        .map_err(|e| ApiError::from_core(&e))?
        .to_checksum();
    env.audit.object(&address);
    env.audit.detail("hd_path", guardian_core::hd_path(0));
    store::log_export(env.db, &row.user_id, env.now_ms)?;
    let phrase = mnemonic.phrase();
    let body = json!({
        "mnemonic": phrase.as_str(),
        "hd_path": guardian_core::hd_path(0),
        "address": address,
    });
    Ok(Response::json(200, &body))
}
