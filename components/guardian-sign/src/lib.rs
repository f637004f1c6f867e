//! guardian-sign: the enduser routes (docs/guardian.md, "Layout"): /guardian/sign (GET, POST), /sign-tx,
//! /sign-message, /sign-typed-data, /address, /logout.
//! Grants: the `guardian` database and `master_key` (to open mnemonics). No key-value store, no
//! outbound hosts.

guest_kit::component! {
    group: guardian_service::SIGN,
    sqlite: "guardian",
    variables: true,
}
