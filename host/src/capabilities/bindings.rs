//! Host-side bindings of the Spin 2.0 interfaces keyward implements (`wit/`): generated once
//! here, implemented per capability in `crate::capabilities::*::host`.
//!
//! The two resources map to the capabilities' own handle types, which know nothing of these
//! bindings: dependencies run from here to the handles and from each `host.rs` to here, never in
//! a circle.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "keyward-host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::capabilities::key_value::KvStore,
        "fermyon:spin/sqlite.connection": crate::capabilities::sqlite::SqlConn,
    },
});

pub use fermyon::spin::{key_value, sqlite, variables};
