//! guardian-sign: the enduser routes (docs/guardian.md, "Layout"): /guardian/sign (GET, POST), /sign-tx,
//! /sign-message, /sign-typed-data, /sign-authorization, /address, /logout.
//! Grants: the `guardian` database and `master_key` (to open the sealed account keys, and a user's
//! mnemonic once, for a user created before account keys were stored: docs/guardian.md, "Design:
//! keys"). No key-value store, no outbound hosts.

guest_kit::component! {
    group: guardian_service::SIGN,
    sqlite: "guardian",
    variables: true,
}
