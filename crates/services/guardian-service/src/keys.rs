//! docs/guardian.md, "Design: keys": one HD key per user, created once (insert-only), sealed under `master_key`
//! with the user id as AAD.

use envelope::Keyring;
use guardian_core::Mnemonic;
use zeroize::Zeroizing;

use crate::Env;
use crate::config::{MNEMONIC_INFO, sealer};
use crate::error::ApiError;
use crate::store;

fn creation_failed() -> ApiError {
    ApiError::new(500, "KEY_CREATION_FAILED", "the key could not be created")
}

/// Finds the user's key or creates it. Returns address 0 and whether this call created it.
/// Only seals: this path never decrypts a mnemonic.
pub fn find_or_create(
    env: &Env<'_>,
    master: &Keyring,
    user_id: &str,
) -> Result<(String, bool), ApiError> {
    if let Some(user) = store::get_user(env.db, user_id).map_err(|_| creation_failed())? {
        return Ok((user.address0, false));
    }
    let mnemonic = Mnemonic::generate().map_err(|_| creation_failed())?;
    let address0 = mnemonic
        .derive_address(0)
        .map_err(|_| creation_failed())?
        .to_checksum();
    let phrase = mnemonic.phrase();
    let ct = sealer(master, MNEMONIC_INFO)
        .map_err(|_| creation_failed())?
        .seal(
            phrase.as_bytes(),
            sealed_columns::guardian::aad_mnemonic(user_id).as_bytes(),
        )
        .map_err(|_| creation_failed())?;
    drop(phrase);
    drop(mnemonic);
    if store::insert_user(env.db, user_id, &ct, &address0, env.now_ms)
        .map_err(|_| creation_failed())?
    {
        return Ok((address0, true));
    }
    // A concurrent first login won: use its key.
    match store::get_user(env.db, user_id).map_err(|_| creation_failed())? {
        Some(user) => Ok((user.address0, false)),
        None => Err(creation_failed()),
    }
}

pub fn key_unavailable() -> ApiError {
    ApiError::new(500, "KEY_UNAVAILABLE", "the stored key cannot be used")
}

/// Opens the user's mnemonic (signing and export components only).
pub fn open_mnemonic(env: &Env<'_>, master: &Keyring, user_id: &str) -> Result<Mnemonic, ApiError> {
    let user = store::get_user(env.db, user_id)?.ok_or_else(key_unavailable)?;
    let plain = Zeroizing::new(
        sealer(master, MNEMONIC_INFO)?
            .open(
                &user.mnemonic_ct,
                sealed_columns::guardian::aad_mnemonic(user_id).as_bytes(),
            )
            .map_err(|_| key_unavailable())?,
    );
    let phrase = std::str::from_utf8(&plain).map_err(|_| key_unavailable())?;
    Mnemonic::parse(phrase).map_err(|_| key_unavailable())
}
