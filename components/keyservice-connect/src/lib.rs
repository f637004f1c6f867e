//! keyservice-connect: POST /connect (keyservice.md §4.2).
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_core::CONNECT,
    sqlite: "keyservice",
    variables: true,
}
