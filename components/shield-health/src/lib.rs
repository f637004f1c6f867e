//! `GET /healthz` (shield.md §4.1): 200 when a trivial query on the shield database succeeds,
//! 503 with `"unhealthy"` otherwise; `X-Request-ID` and CORS as every shield route (§1).
//! No variables: the health check reads none (and must not import the interface).

guest_kit::component! {
    group: shield_service::HEALTH,
    sqlite: "shield",
}
