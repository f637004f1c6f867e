//! docs/guardian.md, "Design: logout and revocation": `POST /guardian/logout` (`guardian-sign`,
//! which already consumes tokens): the caller ends the chain of the token it presents, or all of
//! its chains. No fresh token is minted.

use guest_kit::{Request, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::{Env, config, store, tokens};

/// Path, method and body size were checked by the router. Runs in the request's transaction:
/// the consumed token, the ended chains and the audit record commit together.
pub(crate) fn run(env: &Env<'_>, req: &Request) -> Result<Response, ApiError> {
    // Named first, so a refusal (a bad token, a bad body) is recorded too.
    env.audit.action("token.logout");
    // As on the signing routes: without master_key no record can be keyed, so answer before the
    // token is touched.
    config::master_key(env)?;
    let token = tokens::presented(req)?;
    env.audit.detail("token", store::token_id(&token));
    // Before the token is consumed: a malformed request ends nothing and leaves the token
    // usable (there is no fresh token to hand back).
    let all = parse(&req.body)?;
    if all {
        env.audit.action("token.logout_all");
    }
    let row =
        store::consume_token(env.db, &token, env.now_ms)?.ok_or_else(ApiError::auth_invalid)?;
    env.audit.actor(&tokens::actor(&row.user_id));
    env.audit.object(&row.user_id);
    // The presented token's chain: it is gone from `gd_token` now, so it is listed by hand.
    store::list_chain_end(
        env.db,
        &row.user_id,
        &row.chain_id,
        row.chain_started_at,
        env.now_ms,
    )?;
    let mut ended = store::Ended {
        chains: 1,
        tokens: 1,
    };
    if all {
        let others = store::end_user_chains(env.db, &row.user_id, env.now_ms)?;
        ended.chains = ended.chains.saturating_add(others.chains);
        ended.tokens = ended.tokens.saturating_add(others.tokens);
    } else {
        env.audit.detail("chain", row.chain_id.as_str());
        let others = store::delete_chain_tokens(env.db, &row.user_id, &row.chain_id, env.now_ms)?;
        ended.tokens = ended.tokens.saturating_add(others);
    }
    env.audit.detail("chains_ended", ended.chains);
    env.audit.detail("tokens_ended", ended.tokens);
    Ok(Response::json(
        200,
        &json!({ "chains_ended": ended.chains, "tokens_ended": ended.tokens }),
    ))
}

/// The body: empty, `{}`, or `{"all": true|false}` (`null` counts as absent); whether to end
/// every chain of the user.
fn parse(body: &[u8]) -> Result<bool, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("request body must be a JSON object"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    let mut all = false;
    for (key, v) in obj {
        match (key.as_str(), v) {
            ("all", Value::Null) => {}
            ("all", Value::Bool(b)) => all = *b,
            ("all", _) => return Err(ApiError::bad_request("all must be a boolean")),
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    Ok(all)
}
