//! docs/guardian.md, "Design: signing routes": the enduser routes (`guardian-sign` component). Every response after the
//! token was consumed carries `fresh_client_token` (docs/guardian.md, "Design: tokens").

use guardian_core::request as parse;
use guest_kit::http::form_decode;
use guest_kit::{Request, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::error::Guardian as _;
use crate::policy::{self, Intent};
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
    SignAuthorization,
}

impl Route {
    /// The audit trail's name for what the route does (docs/OPERATIONS.md, "Audit trail").
    fn action(self) -> &'static str {
        match self {
            Route::SignPost => "sign.digest",
            Route::SignGet | Route::Address => "address.read",
            Route::SignTx => "sign.transaction",
            Route::SignMessage => "sign.message",
            Route::SignTypedData => "sign.typed_data",
            Route::SignAuthorization => "sign.authorization",
        }
    }
}

/// One signing route; its path, method and body size were checked by the router. It runs in
/// the request's transaction (the consumed token, the fresh one and the audit record commit
/// together).
pub(crate) fn handle(env: &Env<'_>, req: &Request, route: Route) -> Response {
    // Named first, so a refusal (a bad token, no master key) is recorded too.
    env.audit.action(route.action());
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
        // A server error rolls the transaction back: the presented token is not spent and the
        // fresh one was never stored, so handing it out would only hand out a dead token.
        Err(e) if e.status >= 500 => e.into_response(),
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

fn hex(bytes: &[u8]) -> String {
    guardian_core::hex::encode(bytes)
}

/// Validates the request and acts. What the record says about the signature (docs/OPERATIONS.md,
/// "Audit trail": the address index, the chain, the recipient, the value, the digest signed) is
/// named as soon as it is known; never the key, the message or the signature.
fn act(
    env: &Env<'_>,
    master: &envelope::Keyring,
    user_id: &str,
    route: Route,
    req: &Request,
) -> Result<Value, ApiError> {
    let audit = env.audit;
    match route {
        Route::SignGet | Route::Address => {
            let index = query_index(req)?;
            audit.detail("address_index", index);
            let account = keys::open_account_key(env, master, user_id)?;
            let address = account.derive_address(index).map_err(core)?.to_checksum();
            audit.object(&address);
            let field = if route == Route::SignGet {
                "public_address"
            } else {
                "address"
            };
            Ok(json!({ field: address, "address_index": index }))
        }
        Route::SignPost => {
            let r = parse::parse_sign_request(&json_body(req)?).map_err(core)?;
            audit.detail("address_index", r.address_index);
            audit.detail("digest", hex(&r.digest));
            let permit = policy::check(env, user_id, &Intent::Digest)?;
            let key = keys::open_account_key(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            audit.object(&key.address().to_checksum());
            let sig = key.sign_digest(&r.digest).map_err(core)?;
            permit.record(env)?;
            Ok(json!({ "signature": sig.to_hex() }))
        }
        Route::SignTx => {
            let r = parse::parse_sign_tx_request(&json_body(req)?).map_err(core)?;
            audit.detail("address_index", r.address_index);
            audit.detail("tx_type", r.tx.tx_type.number());
            audit.detail("chain_id", r.tx.chain_id);
            audit.detail("nonce", r.tx.nonce);
            // null: contract creation.
            audit.detail("to", r.tx.to.map(|a| a.to_checksum()));
            audit.detail("value", r.tx.amount.to_dec_string());
            if !r.tx.authorization_list.is_empty() {
                record_authorizations(env, &r.tx.authorization_list);
            }
            let intent = Intent::Transaction {
                chain_id: r.tx.chain_id,
                to: r.tx.to,
                value: r.tx.amount,
            };
            let permit = policy::check(env, user_id, &intent)?;
            let key = keys::open_account_key(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            audit.object(&key.address().to_checksum());
            let signed = guardian_core::sign_tx(&key, &r.tx).map_err(core)?;
            permit.record(env)?;
            audit.detail("digest", hex(&signed.signing_hash));
            audit.detail("tx_hash", signed.hash_hex());
            Ok(json!({
                "signed_tx_rlp": signed.raw_hex(),
                "tx_hash": signed.hash_hex(),
                "signed_tx_json": signed.json,
                "from": signed.from.to_checksum(),
            }))
        }
        Route::SignMessage => {
            let r = parse::parse_sign_message_request(&json_body(req)?).map_err(core)?;
            audit.detail("address_index", r.address_index);
            let permit = policy::check(env, user_id, &Intent::PersonalMessage)?;
            let key = keys::open_account_key(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            audit.object(&key.address().to_checksum());
            let (hash, sig) =
                guardian_core::sign_personal_message(&key, &r.message).map_err(core)?;
            permit.record(env)?;
            audit.detail("digest", hex(&hash));
            Ok(json!({
                "signature": sig.to_hex_v27(),
                "message_hash": hex(&hash),
                "address": key.address().to_checksum(),
            }))
        }
        Route::SignTypedData => {
            let r = {
                // The body is dropped once read: only the parsed typed data is kept.
                let body = json_body(req)?;
                let r = parse::parse_sign_typed_data_request(&body).map_err(core)?;
                record_domain(env, &body);
                r
            };
            audit.detail("address_index", r.address_index);
            audit.detail("primary_type", r.typed_data.primary_type());
            let permit = policy::check(env, user_id, &Intent::typed_data(&r.typed_data))?;
            let key = keys::open_account_key(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            audit.object(&key.address().to_checksum());
            let (hashes, sig) =
                guardian_core::sign_typed_data(&key, &r.typed_data).map_err(core)?;
            permit.record(env)?;
            audit.detail("digest", hex(&hashes.digest));
            Ok(json!({
                "signature": sig.to_hex_v27(),
                "digest": hex(&hashes.digest),
                "address": key.address().to_checksum(),
            }))
        }
        Route::SignAuthorization => {
            // docs/guardian.md, "Authorizations (EIP-7702)".
            let r = parse::parse_sign_authorization_request(&json_body(req)?).map_err(core)?;
            let auth = r.authorization;
            audit.detail("address_index", r.address_index);
            audit.detail("chain_id", chain_id_detail(&auth.chain_id));
            audit.detail("delegate", auth.address.to_checksum());
            audit.detail("nonce", auth.nonce);
            let intent = Intent::Authorization {
                chain_id: auth.chain_id,
                delegate: auth.address,
            };
            let permit = policy::check(env, user_id, &intent)?;
            let key = keys::open_account_key(env, master, user_id)?
                .derive_key(r.address_index)
                .map_err(core)?;
            let authority = key.address().to_checksum();
            audit.object(&authority);
            let digest = auth.signing_hash();
            audit.detail("digest", hex(&digest));
            let signed = guardian_core::sign_authorization(&key, &auth).map_err(core)?;
            permit.record(env)?;
            let quantity = |n: u64| guardian_core::U256::from_u64(n).to_quantity();
            Ok(json!({
                "chain_id": auth.chain_id.to_quantity(),
                "address": auth.address.to_checksum(),
                "nonce": quantity(auth.nonce),
                "y_parity": quantity(u64::from(signed.y_parity)),
                "r": signed.r.to_quantity(),
                "s": signed.s.to_quantity(),
                "signature": hex(&signed.signature_bytes()),
                "digest": hex(&digest),
                "authority": authority,
            }))
        }
    }
}

/// How many authorizations a type-4 record lists (the count is always recorded): the body may
/// hold thousands, and a record stays small.
const AUDITED_AUTHORIZATIONS: usize = 16;

/// A type-4 transaction's authorizations (docs/guardian.md, "Authorizations (EIP-7702)"): their
/// count, and for the first [`AUDITED_AUTHORIZATIONS`] the account delegated (`authority`, as
/// its signature recovers), the `delegate`, the chain and the nonce.
fn record_authorizations(env: &Env<'_>, list: &[guardian_core::SignedAuthorization]) {
    env.audit.detail("authorization_count", list.len());
    let listed: Vec<Value> = list
        .iter()
        .take(AUDITED_AUTHORIZATIONS)
        .map(|a| {
            json!({
                "authority": a.authority().map(|x| x.to_checksum()),
                "delegate": a.auth.address.to_checksum(),
                "chain_id": chain_id_detail(&a.auth.chain_id),
                "nonce": a.auth.nonce,
            })
        })
        .collect();
    env.audit.detail("authorizations", listed);
}

/// A chain id as a number, or as a decimal string when it does not fit 64 bits.
fn chain_id_detail(id: &guardian_core::U256) -> Value {
    match id.to_u64() {
        Some(n) => Value::from(n),
        None => Value::String(id.to_dec_string()),
    }
}

/// The typed data's `domain.chainId` and `domain.verifyingContract` (what a permit is good for),
/// read from the request after it was validated, so both have their types' forms.
fn record_domain(env: &Env<'_>, body: &Value) {
    // `typed_data` may be given as a JSON string.
    let parsed;
    let typed = match body.get("typed_data") {
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s).ok();
            parsed.as_ref()
        }
        other => other,
    };
    let Some(domain) = typed.and_then(|t| t.get("domain")) else {
        return;
    };
    if let Some(id) = domain
        .get("chainId")
        .and_then(|v| guardian_core::int::parse_u256(v).ok())
    {
        match id.to_u64() {
            Some(n) => env.audit.detail("chain_id", n),
            None => env.audit.detail("chain_id", id.to_dec_string()),
        }
    }
    if let Some(contract) = domain
        .get("verifyingContract")
        .and_then(Value::as_str)
        .and_then(|a| guardian_core::Address::parse(a).ok())
    {
        env.audit
            .detail("verifying_contract", contract.to_checksum());
    }
}
