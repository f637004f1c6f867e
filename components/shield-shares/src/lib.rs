//! shield-shares: `/shares`, `/shares/encryption`, `/shares/{reference}`, `/keychain`
//! (docs/shield.md, "Layout"). The only shield component that reaches the network (identity
//! providers: docs/shield.md, "Outbound hosts") and the key-value store (JWKS cache).

guest_kit::component! {
    group: shield_service::SHARES,
    sqlite: "shield",
    key_value: "shield",
    variables: true,
    outbound_http: shield_service::OUTBOUND_BODY_LIMIT,
}
