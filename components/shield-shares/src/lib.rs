//! shield-shares: `/shares`, `/shares/encryption`, `/shares/{reference}`, `/keychain`
//! (shield.md §4.3). The only shield component that reaches the network (identity providers,
//! §5) and the key-value store (JWKS cache).

guest_kit::component! {
    group: shield_service::SHARES,
    sqlite: "shield",
    key_value: "shield",
    variables: true,
    outbound_http: shield_service::OUTBOUND_BODY_LIMIT,
}
