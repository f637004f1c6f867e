//! keyservice-connect: POST /connect (docs/keyservice.md, "3. Real Service").
//! Grants: the `keyservice` database and variables; no key-value store.

guest_kit::component! {
    group: keyservice_service::CONNECT,
    sqlite: "keyservice",
    variables: true,
}
