//! shield-admin: bulk lookups, migration export/import and `/admin/preregister`
//! (docs/shield.md, "Layout"). Project auth only: no key-value store, no outbound HTTP.

guest_kit::component! {
    group: shield_service::ADMIN,
    sqlite: "shield",
    variables: true,
}
