//! keyservice-admin: the operator API under /admin/namespaces (keyservice.md §4.4).
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_core::ADMIN,
    sqlite: "keyservice",
    variables: true,
}
