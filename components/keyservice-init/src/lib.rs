//! keyservice-init: POST /init and GET /keyservice/openapi.json (docs/keyservice.md, "2. Browser").
//! Grants: the `keyservice` database, the `keyservice` key-value store (the /init rate limit's
//! counters) and variables.

guest_kit::component! {
    group: keyservice_service::INIT,
    sqlite: "keyservice",
    key_value: "keyservice",
    variables: true,
}
