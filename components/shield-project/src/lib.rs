//! shield-project: `/register`, `/storage-methods`, `/project/...`, `/user` and the OpenAPI
//! document (docs/shield.md, "Layout"). No key-value store; outbound HTTP only to the OTP
//! webhook (docs/shield.md, "Design: OTP and 2FA").

guest_kit::component! {
    group: shield_service::PROJECT,
    sqlite: "shield",
    variables: true,
    outbound_http: shield_service::OUTBOUND_BODY_LIMIT,
}
