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

/// Runs V1–V8. `lookup` gets the claimed keyid and returns the secrets it may be signed with
/// (a namespace's current one, then the one a rotation replaced while its overlap lasts) plus
/// whatever the route needs from the same row, or `None` (unknown keyid → the generic 401).
/// Returns that data and the position of the secret that matched.
pub fn verify_ss1<T>(
    env: &Env<'_>,
    store: &Store<'_>,
    req: &Request,
    lookup: impl FnOnce(&str) -> ApiResult<Option<(Vec<Zeroizing<String>>, T)>>,
) -> ApiResult<(T, usize)> {
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
    let Some((secrets, data)) = lookup(pending.keyid())? else {
        return Err(ApiError::ss1(&sessionist::Error::unknown_keyid()));
    };
    // Each candidate is compared in constant time; a mismatch with every one is the same
    // "authentication failed" as an unknown keyid. `check_hash` consumes its header, so a
    // second candidate parses the header again (same clock, so it passes V1–V5 again).
    let mut pending = Some(pending);
    let mut outcome = Err(sessionist::Error::unknown_keyid());
    for (index, secret) in secrets.iter().enumerate() {
        let candidate = match pending.take() {
            Some(p) => p,
            None => verifier
                .begin(&sreq, env.now_ms)
                .map_err(|e| ApiError::ss1(&e))?,
        };
        outcome = candidate.check_hash(secret).map(|v| (v, index));
        if outcome.is_ok() {
            break;
        }
    }
    drop(secrets);
    let (verified, matched) = outcome.map_err(|e| ApiError::ss1(&e))?;
    let newly = store.record_nonce(verified.replay_key(), verified.replay_expires_at_ms())?;
    verified.commit(newly).map_err(|e| ApiError::ss1(&e))?;
    // Expired nonces are swept now and then, not on every request, to keep
    // writes down; entries outlive the date window so sweeping is safe.
    if crypto::random_byte() < 16 {
        store.sweep_nonces(env.now_ms)?;
    }
    Ok((data, matched))
}
