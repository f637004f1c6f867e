//! A component ready to serve, what it was granted, and the per-request store state: one
//! instance's WASI, HTTP and capability states, each reached by the linker through a projection.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::guest_output::GuestOutput;
use super::memory_budget::InstanceMemory;
use crate::capabilities::key_value::{self, KeyValueGrants, KeyValueState};
use crate::capabilities::outbound_http::address::AddressPolicy;
use crate::capabilities::outbound_http::{AllowedHost, OutboundHooks};
use crate::capabilities::sqlite::{self, SqliteGrants, SqliteState};
use crate::capabilities::variables::{self, ComponentVariables, VariablesState};
use crate::observability::trace::RequestTrace;

/// What one component may use: exactly the labels, variables and hosts `spin.toml` grants it.
#[derive(Debug)]
pub struct Grants {
    pub key_value_stores: Arc<KeyValueGrants>,
    pub sqlite_databases: Arc<SqliteGrants>,
    pub variables: Arc<ComponentVariables>,
    pub allowed_hosts: Arc<Vec<AllowedHost>>,
    /// The non-public addresses outbound requests may reach (host-wide).
    pub outbound_addresses: Arc<AddressPolicy>,
    pub environment: Vec<(String, String)>,
}

/// A component ready to serve: pre-instantiated, with its grants.
pub struct LoadedComponent {
    pub id: String,
    pub pre: ProxyPre<HostState>,
    pub grants: Arc<Grants>,
    /// The component's own request-body maximum (`[component.<id>.tool.keyward]`), if smaller
    /// than the host's.
    pub max_body_bytes: Option<usize>,
}

/// Everything one request's instance owns; dropped with its store when the request ends.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub key_value: KeyValueState,
    pub sqlite: SqliteState,
    pub variables: VariablesState,
    pub memory: InstanceMemory,
}

impl HostState {
    /// `trace`: the request's trace, which its outbound calls carry on and its storage calls
    /// are spans of.
    pub fn new(
        grants: Arc<Grants>,
        memory: InstanceMemory,
        output: GuestOutput,
        trace: Option<Arc<RequestTrace>>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output.clone())
            .stderr(output)
            .envs(&grants.environment)
            // No sockets: the only way out of the sandbox is outbound wasi:http, which is
            // checked against allowed_outbound_hosts.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        HostState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            key_value: KeyValueState::new(grants.key_value_stores.clone()).traced(&trace),
            sqlite: SqliteState::new(grants.sqlite_databases.clone()).traced(&trace),
            hooks: OutboundHooks {
                allowed: grants.allowed_hosts.clone(),
                addresses: grants.outbound_addresses.clone(),
                trace,
            },
            variables: VariablesState::new(grants.variables.clone()),
            memory,
        }
    }

    /// The Spin interfaces, each implemented on its capability's own state.
    pub fn add_capabilities_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
        key_value::host::add_to_linker(linker, |s| &mut s.key_value)?;
        sqlite::host::add_to_linker(linker, |s| &mut s.sqlite)?;
        variables::host::add_to_linker(linker, |s| &mut s.variables)?;
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
