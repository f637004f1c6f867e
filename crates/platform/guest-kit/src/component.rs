//! Components as declarations: a component names its route group and its grants, and
//! [`crate::component!`] writes the Spin entry point. Only the grants named there are
//! constructed, so a component imports exactly the Spin interfaces `spin.toml` grants it
//! (checked by the e2e test `component_imports`).

use crate::env::Env;
use crate::http::{Request, Response};

/// One route group's entry points, as a service crate declares them.
#[derive(Clone, Copy)]
pub struct RouteGroup {
    /// How many body bytes to read before handing over: one more than the group's largest
    /// limit is enough to answer 413, and nothing larger is ever buffered.
    pub body_limit: fn(&Env<'_>) -> usize,
    /// Answers one request.
    pub handle: fn(&Env<'_>, Request) -> Response,
}

/// The Spin HTTP entry point of a component, from its route group and grants (the same
/// names as `spin.toml`):
///
/// ```ignore
/// guest_kit::component! {
///     group: keyservice_service::INIT,
///     sqlite: "keyservice",
///     key_value: "keyservice",        // optional
///     variables: true,                // optional; `false` or absent: none read
///     outbound_http: 256 * 1024,      // optional: the response size cap, bytes
/// }
/// ```
#[macro_export]
macro_rules! component {
    (
        group: $group:expr,
        sqlite: $db:literal,
        $(key_value: $kv:literal,)?
        $(variables: $vars:tt,)?
        $(outbound_http: $max:expr,)?
    ) => {
        #[::spin_sdk::http_component]
        async fn handle(req: ::spin_sdk::http::IncomingRequest) -> ::spin_sdk::http::Response {
            let db = $crate::spin::SpinDb::new($db);
            $crate::__grant!(kv: Kv $(= $crate::spin::SpinKv::new($kv))?);
            $crate::__grant!(fetch: Fetch $(= $crate::spin::SpinFetch { max_body: $max })?);
            let vars = $crate::__grant_vars!($($vars)?);
            let env = $crate::Env {
                kv,
                fetch,
                ..$crate::Env::new(&db, &vars, $crate::unix_now_ms())
            };
            $crate::spin::serve(&$group, &env, req).await
        }
    };
}

// An ungranted store or client is a plain `None`: the Spin adapter's type is not even named,
// so none of its methods (and none of the interface's imports) is linked in; an
// `Option<SpinKv>` that is always `None` would still link them through its vtable and drop glue.
#[doc(hidden)]
#[macro_export]
macro_rules! __grant {
    ($name:ident: $capability:ident) => {
        let $name: ::core::option::Option<&dyn $crate::$capability> = ::core::option::Option::None;
    };
    ($name:ident: $capability:ident = $adapter:expr) => {
        let adapter = $adapter;
        let $name: ::core::option::Option<&dyn $crate::$capability> =
            ::core::option::Option::Some(&adapter);
    };
}

// A component without variables never references `variable`, so it does not import
// `fermyon:spin/variables`.
#[doc(hidden)]
#[macro_export]
macro_rules! __grant_vars {
    () => {
        |_: &str| ::core::option::Option::<::std::string::String>::None
    };
    (false) => {
        |_: &str| ::core::option::Option::<::std::string::String>::None
    };
    (true) => {
        |name: &str| $crate::spin::variable(name)
    };
}
