//! keyservice-key: PUT/GET/DELETE /key (docs/keyservice.md, "2. Browser").
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_service::KEY,
    sqlite: "keyservice",
    variables: true,
}
