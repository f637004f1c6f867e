//! shield-project: `/register`, `/storage-methods`, `/project/...`, `/user` and the OpenAPI
//! document (shield.md §4.1). No key-value store, no outbound HTTP.

guest_kit::component! {
    group: shield_service::PROJECT,
    sqlite: "shield",
    variables: true,
}
