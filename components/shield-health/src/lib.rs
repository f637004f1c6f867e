//! `GET /healthz` (docs/shield.md, "Layout"): 200 when a trivial query on the shield database succeeds,
//! 503 with `"unhealthy"` otherwise; `X-Request-ID` and CORS as every shield route.
//! No variables: the health check reads none (and must not import the interface).

guest_kit::component! {
    group: shield_service::HEALTH,
    sqlite: "shield",
}
