//! keyservice-key: PUT/GET/DELETE /key (keyservice.md §4.3).
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_core::KEY,
    sqlite: "keyservice",
    variables: true,
}
