//! shield-admin: bulk lookups, migration export/import and `/admin/preregister`
//! (shield.md §4.4, §4.5, §3.3). Project auth only: no key-value store, no outbound HTTP.

guest_kit::component! {
    group: shield_service::ADMIN,
    sqlite: "shield",
    variables: true,
}
