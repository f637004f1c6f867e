//! guardian-login: `POST /guardian`, `POST /guardian/login` (docs/guardian.md, "Layout"), the OpenAPI document
//! at `GET /guardian/openapi.json`, and `NOT_FOUND` for other `/guardian/...` paths.
//! Grants: the `guardian` database, the `guardian` key-value store (rate-limit counters, JWKS
//! cache), variables, and outbound HTTP to the identity-provider hosts only.

guest_kit::component! {
    group: guardian_service::LOGIN,
    sqlite: "guardian",
    key_value: "guardian",
    variables: true,
    outbound_http: guardian_service::OUTBOUND_BODY_LIMIT,
}
