//! guardian-export: POST /guardian/export (docs/guardian.md, "Layout").
//! Grants: the `guardian` database, `master_key`, `allow_export`. No outbound hosts.

guest_kit::component! {
    group: guardian_service::EXPORT,
    sqlite: "guardian",
    variables: true,
}
