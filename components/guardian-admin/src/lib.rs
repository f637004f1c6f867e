//! guardian-admin: POST /guardian/authorize and POST /guardian/revoke (docs/guardian.md, "Layout").
//! Grants: the `guardian` database, `master_key` (seals the Okta API token override) and
//! `admin_token`. It never opens a mnemonic and never mints a token.

guest_kit::component! {
    group: guardian_service::AUTHORIZE,
    sqlite: "guardian",
    variables: true,
}
