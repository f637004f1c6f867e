//! docs/keyservice.md, "Design: ss1 verification order" (server side) over the sessionist crate, with storage
//! for V6 (secret lookup, caller-supplied) and V8 (the `ks_nonce` table).

use guest_kit::Request;
use zeroize::Zeroizing;

use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::{Env, config, crypto};

/// A header value for verification; a repeated header is treated as `bad`
/// rather than picking one of the copies.
fn single<'r>(req: &'r Request, name: &str, bad: &'r [u8]) -> Option<&'r [u8]> {
    match req.header_count(name) {
        0 => None,
        1 => req.header(name),
        _ => Some(bad),
    }
}

/// Runs V1–V8. `lookup` gets the claimed keyid and returns its secret plus
/// whatever the route needs from the same row, or `None` (unknown keyid →
/// the generic 401).
pub fn verify_ss1<T>(
    env: &Env<'_>,
    store: &Store<'_>,
    req: &Request,
    lookup: impl FnOnce(&str) -> ApiResult<Option<(Zeroizing<String>, T)>>,
) -> ApiResult<T> {
    let verifier = config::verifier(env)?;
    // Two Authorization headers fail like a malformed one (an empty value);
    // two X-Date/Date headers fail like an unparseable date.
    let sreq = sessionist::Request::new(&req.method, &req.path_and_query, &req.body)
        .authorization(match req.header_count("authorization") {
            0 | 1 => req.header("authorization"),
            _ => None,
        })
        .x_date(single(req, "x-date", b""))
        .date(single(req, "date", b""));
    let pending = verifier
        .begin(&sreq, env.now_ms)
        .map_err(|e| ApiError::ss1(&e))?;
    let Some((secret, data)) = lookup(pending.keyid())? else {
        return Err(ApiError::ss1(&sessionist::Error::unknown_keyid()));
    };
    let verified = pending.check_hash(&secret).map_err(|e| ApiError::ss1(&e))?;
    drop(secret);
    let newly = store.record_nonce(verified.replay_key(), verified.replay_expires_at_ms())?;
    verified.commit(newly).map_err(|e| ApiError::ss1(&e))?;
    // Expired nonces are swept now and then, not on every request, to keep
    // writes down; entries outlive the date window so sweeping is safe.
    if crypto::random_byte() < 16 {
        store.sweep_nonces(env.now_ms)?;
    }
    Ok(data)
}
