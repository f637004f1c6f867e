//! keyservice-admin: the operator API under /admin/namespaces (docs/keyservice.md, "1. Operator").
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_service::ADMIN,
    sqlite: "keyservice",
    variables: true,
}
