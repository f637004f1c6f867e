//! What a guest can reach beyond its own memory, one folder per capability, each holding its
//! WIT implementation (`host.rs`), its runtime configuration (`config.rs`) and its backends
//! (the generated Spin bindings, shared by all, are in `bindings`):
//!
//! - `key_value`: `fermyon:spin/key-value` over embedded SQLite or Redis;
//! - `sqlite`: `fermyon:spin/sqlite` over embedded SQLite or PostgreSQL;
//! - `variables`: `fermyon:spin/variables`, application variables and their providers;
//! - `outbound_http`: which hosts `wasi:http/outgoing-handler` may reach.
//!
//! A capability never sees the per-request store: each has its own per-instance state, which the
//! linker reaches through a projection (`crate::wasm::instance`).
//!
//! A storage backend that cannot be reached (connection refused, pool timeout, connection lost) is not
//! the guest's error to handle: the host stops the instance and answers the request itself with
//! 503, and the backend's pool reconnects on its own when the server is back.

pub mod bindings;
pub mod key_value;
pub mod outbound_http;
pub mod sqlite;
pub mod variables;

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::Resource;

/// Open resources (key-value stores, SQLite connections) one instance may hold at once, as Spin
/// caps its store table: a guest that opens without closing gets an error, not unbounded memory.
pub const MAX_OPEN_RESOURCES: usize = 256;

/// One instance's open resources of one kind, at most [`MAX_OPEN_RESOURCES`] at a time.
#[derive(Default)]
pub struct OpenResources {
    table: wasmtime::component::ResourceTable,
    count: usize,
}

impl OpenResources {
    /// Opens `value`, or `None` when the instance already holds as many as it may.
    pub fn push<T: Send + 'static>(
        &mut self,
        value: T,
    ) -> wasmtime::Result<Option<wasmtime::component::Resource<T>>> {
        if self.count >= MAX_OPEN_RESOURCES {
            return Ok(None);
        }
        let handle = self.table.push(value)?;
        self.count += 1;
        Ok(Some(handle))
    }

    pub fn get<T: 'static>(
        &self,
        handle: &wasmtime::component::Resource<T>,
    ) -> wasmtime::Result<&T> {
        Ok(self.table.get(handle)?)
    }

    pub fn get_mut<T: 'static>(
        &mut self,
        handle: &wasmtime::component::Resource<T>,
    ) -> wasmtime::Result<&mut T> {
        Ok(self.table.get_mut(handle)?)
    }

    pub fn close<T: 'static>(
        &mut self,
        handle: wasmtime::component::Resource<T>,
    ) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.count = self.count.saturating_sub(1);
        Ok(())
    }
}

/// The labels a component was granted (key-value stores, SQLite databases), each bound to its
/// backend.
pub type LabelGrants<B> = HashMap<String, B>;

/// One instance's state for a capability reached by label: what its component was granted and
/// the resources it has open.
pub struct Granted<B> {
    grants: Arc<LabelGrants<B>>,
    open: OpenResources,
    /// The request's trace, when its storage calls are exported as spans.
    pub trace: Option<Arc<crate::observability::trace::RequestTrace>>,
}

/// Why `open_label` gave the guest no resource.
pub enum Refused {
    /// The component was not granted the label.
    NotGranted,
    /// The instance already holds [`MAX_OPEN_RESOURCES`].
    TooManyOpen,
}

impl<B> Granted<B> {
    pub fn new(grants: Arc<LabelGrants<B>>) -> Self {
        Granted {
            grants,
            open: OpenResources::default(),
            trace: None,
        }
    }

    /// Storage calls become spans of `trace` when spans are exported (otherwise nothing is
    /// kept: a trace that is only passed on to outbound calls has no use here).
    pub fn traced(
        mut self,
        trace: &Option<Arc<crate::observability::trace::RequestTrace>>,
    ) -> Self {
        if crate::observability::trace::exporting() {
            self.trace = trace.clone();
        }
        self
    }

    /// Opens `label` as a resource that `connect` makes from its backend. Access is decided here,
    /// as Spin decides it: a label the component was not granted is refused whether or not it
    /// exists anywhere, so a bug in one component cannot reach another service's data.
    pub fn open_label<T: Send + 'static>(
        &mut self,
        label: &str,
        connect: impl FnOnce(&B) -> T,
    ) -> wasmtime::Result<Result<Resource<T>, Refused>> {
        let Some(backend) = self.grants.get(label) else {
            return Ok(Err(Refused::NotGranted));
        };
        Ok(self
            .open
            .push(connect(backend))?
            .ok_or(Refused::TooManyOpen))
    }
}

/// `Debug` for a scale-out backend: its label only, since its URL may carry a password.
pub fn debug_label(f: &mut std::fmt::Formatter<'_>, kind: &str, label: &str) -> std::fmt::Result {
    f.debug_struct(kind).field("label", &label).finish()
}

/// A backend could not be reached for this request.
#[derive(Debug)]
pub struct BackendUnavailable {
    label: String,
    detail: String,
}

impl BackendUnavailable {
    pub fn new(label: &str, detail: String) -> Self {
        BackendUnavailable {
            label: label.to_string(),
            detail,
        }
    }
}

impl std::fmt::Display for BackendUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "storage backend for `{}` is unavailable: {}",
            self.label, self.detail
        )
    }
}

impl std::error::Error for BackendUnavailable {}
