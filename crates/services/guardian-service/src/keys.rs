//! docs/guardian.md, "Design: keys": one HD key per user, created once (insert-only), sealed under `master_key`
//! with the user id as AAD. Signing opens the user's sealed account key (`m/44'/60'/0'/0`), never
//! the mnemonic; only export opens the mnemonic.

use envelope::Keyring;
use guardian_core::Mnemonic;
use guardian_core::hd::AccountKey;
use sealed_columns::guardian::{ACCOUNT_KEY_INFO, aad_account_key};
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
    // The seed is derived once, here: the account key gives address 0 and is what signing keeps.
    let account = mnemonic.account_key().map_err(|_| creation_failed())?;
    let address0 = account
        .derive_address(0)
        .map_err(|_| creation_failed())?
        .to_checksum();
    let account_ct = seal_account_key(master, user_id, &account).map_err(|_| creation_failed())?;
    drop(account);
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
        // In the same transaction as the user: a user created now never lacks the row.
        store::insert_signing_key(env.db, user_id, &account_ct, env.now_ms)
            .map_err(|_| creation_failed())?;
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

/// Opens the user's mnemonic: export, and a signing route's first use of a key stored before
/// account keys were ([`open_account_key`]).
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

fn seal_account_key(
    master: &Keyring,
    user_id: &str,
    account: &AccountKey,
) -> Result<String, ApiError> {
    sealer(master, ACCOUNT_KEY_INFO)?
        .seal(
            account.to_bytes().as_ref(),
            aad_account_key(user_id).as_bytes(),
        )
        .map_err(|_| key_unavailable())
}

/// Opens the user's account key (docs/guardian.md, "Design: keys"): what every signing and
/// address route derives from (one AES-GCM open, then one child derivation per key). A user
/// created before the account key was stored gets it on first use: the mnemonic is opened this
/// once, the account key derived and stored (`INSERT … ON CONFLICT DO NOTHING`) in the request's
/// transaction. A row that does not open for this user (another user's, or sealed under a key
/// no longer configured) is 500 `KEY_UNAVAILABLE`, never a fall back to the mnemonic.
pub fn open_account_key(
    env: &Env<'_>,
    master: &Keyring,
    user_id: &str,
) -> Result<AccountKey, ApiError> {
    if let Some(ct) = store::get_signing_key(env.db, user_id)? {
        let plain = Zeroizing::new(
            sealer(master, ACCOUNT_KEY_INFO)?
                .open(&ct, aad_account_key(user_id).as_bytes())
                .map_err(|_| key_unavailable())?,
        );
        return AccountKey::from_bytes(&plain).map_err(|_| key_unavailable());
    }
    let account = open_mnemonic(env, master, user_id)?
        .account_key()
        .map_err(|_| key_unavailable())?;
    let ct = seal_account_key(master, user_id, &account)?;
    store::insert_signing_key(env.db, user_id, &ct, env.now_ms)
        .map_err(|e| crate::error::db_err(&e))?;
    Ok(account)
}
