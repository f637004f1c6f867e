//! shield-project: `/register`, `/storage-methods`, `/project/...`, `/user` and the OpenAPI
//! document (docs/shield.md, "Layout"). No key-value store, no outbound HTTP.

guest_kit::component! {
    group: shield_service::PROJECT,
    sqlite: "shield",
    variables: true,
}
