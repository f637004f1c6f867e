//! docs/guardian.md, "Design: signing routes": the enduser routes (`guardian-sign` component). Every response after the
//! token was consumed carries `fresh_client_token` (docs/guardian.md, "Design: tokens").

use guardian_core::request as parse;
use guest_kit::http::form_decode;
use guest_kit::{Request, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::{Env, config, keys, tokens};

/// The signing routes, as guardian's route table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    SignPost,
    SignGet,
    Address,
    SignTx,
    SignMessage,
    SignTypedData,
}

/// One signing route; its path, method and body size were checked by the router.
pub(crate) fn handle(env: &Env<'_>, req: &Request, route: Route) -> Response {
    // Fail closed before touching the token when the deployment cannot sign at all.
    let master = match config::master_key(env) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let (row, fresh) = match tokens::consume_and_refresh(env, req) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match act(env, &master, &row.user_id, route, req) {
        Ok(mut body) => {
            if let Some(obj) = body.as_object_mut() {
                obj.insert("fresh_client_token".into(), Value::String(fresh));
            }
            Response::json(200, &body)
        }
        Err(e) => e.with_field("fresh_client_token", fresh).into_response(),
    }
}

/// The JSON body; an empty body counts as `{}`.
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body)
        .map_err(|_| ApiError::bad_request("request body is not valid JSON"))
}

/// One query parameter, percent-decoded; repeated → error.
pub fn query_param(req: &Request, name: &str) -> Result<Option<String>, ()> {
    let mut found = None;
    for pair in req.query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(k).as_deref() == Some(name) {
            if found.is_some() {
                return Err(());
            }
            found = Some(form_decode(v).ok_or(())?);
        }
    }
    Ok(found)
}

fn query_index(req: &Request) -> Result<u32, ApiError> {
    let v = query_param(req, "address_index").map_err(|_| {
        ApiError::new(
            400,
            "INVALID_ADDRESS_INDEX",
            "address_index must be given at most once, as a decimal",
        )
    })?;
    parse::parse_address_index_query(v.as_deref()).map_err(|e| ApiError::from_core(&e))
}

fn core(e: guardian_core::Error) -> ApiError {
    ApiError::from_core(&e)
}

fn act(
    env: &Env<'_>,
    master: &envelope::MasterKey,
    user_id: &str,
    route: Route,
    req: &Request,
) -> Result<Value, ApiError> {
    match route {
        Route::SignGet | Route::Address => {
            let index = query_index(req)?;
            let mnemonic = keys::open_mnemonic(env, master, user_id)?;
            let address = mnemonic.derive_address(index).map_err(core)?.to_checksum();
            let field = if route == Route::SignGet {
                "public_address"
            } else {
                "address"
            };
            Ok(json!({ field: address, "address_index": index }))
        }
        Route::SignPost => {
            let r = parse::parse_sign_request(&json_body(req)?).map_err(core)?;
            let key = keys::open_mnemonic(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            let sig = key.sign_digest(&r.digest).map_err(core)?;
            Ok(json!({ "signature": sig.to_hex() }))
        }
        Route::SignTx => {
            let r = parse::parse_sign_tx_request(&json_body(req)?).map_err(core)?;
            let key = keys::open_mnemonic(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            let signed = guardian_core::sign_tx(&key, &r.tx).map_err(core)?;
            Ok(json!({
                "signed_tx_rlp": signed.raw_hex(),
                "tx_hash": signed.hash_hex(),
                "signed_tx_json": signed.json,
                "from": signed.from.to_checksum(),
            }))
        }
        Route::SignMessage => {
            let r = parse::parse_sign_message_request(&json_body(req)?).map_err(core)?;
            let key = keys::open_mnemonic(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            let (hash, sig) =
                guardian_core::sign_personal_message(&key, &r.message).map_err(core)?;
            Ok(json!({
                "signature": sig.to_hex_v27(),
                "message_hash": guardian_core::hex::encode(&hash),
                "address": key.address().to_checksum(),
            }))
        }
        Route::SignTypedData => {
            let r = parse::parse_sign_typed_data_request(&json_body(req)?).map_err(core)?;
            let key = keys::open_mnemonic(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            let (hashes, sig) =
                guardian_core::sign_typed_data(&key, &r.typed_data).map_err(core)?;
            Ok(json!({
                "signature": sig.to_hex_v27(),
                "digest": guardian_core::hex::encode(&hashes.digest),
                "address": key.address().to_checksum(),
            }))
        }
    }
}
