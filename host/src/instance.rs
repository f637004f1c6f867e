//! The wasmtime side: engine configuration, compiled-component cache, per-component grants and
//! the per-request store state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::memory_budget::InstanceMemory;
use crate::outbound::{AllowedHost, OutboundHooks};
use crate::storage::kv::KvStore;
use crate::storage::sql::SqlDatabase;

/// Epoch ticks drive the per-request deadline; this is their period (the deadline's resolution).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct ExecutionLimits {
    /// Wall-clock budget of one request, answered by 504 when exceeded.
    pub request_timeout: Duration,
    /// Linear-memory cap of one instance, answered by 500 when the guest needs more.
    pub memory_limit_bytes: usize,
    /// Instances that may run at once (the pooling allocator's slots).
    pub max_instances: u32,
    /// Linear memory all instances may hold together (see `memory_budget`).
    pub memory_budget_bytes: usize,
}

pub fn engine(limits: &ExecutionLimits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_instances)
        // A Rust wasip2 component has one core memory and a handful of core instances/tables.
        .total_core_instances(limits.max_instances.saturating_mul(8))
        .total_memories(limits.max_instances.saturating_mul(2))
        .total_tables(limits.max_instances.saturating_mul(4))
        .max_memory_size(limits.memory_limit_bytes)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16);
    // A slot's linear memory is reset for the next request by scanning which pages the last
    // one touched (Linux ≥ 6.7 PAGEMAP_SCAN) and restoring only those, keeping them resident,
    // instead of unmapping them and taking a page fault on each again: in the bench this took a
    // minimal request from ≈ 124 µs to ≈ 79 µs (docs/PERFORMANCE.md). Older kernels fall back to
    // wasmtime's default reset. Without the scan, keeping memory resident costs more than it
    // saves (a memset of the whole kept size), so the two go together.
    pool.pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// What one component may use: exactly the labels, variables and hosts `spin.toml` grants it.
#[derive(Debug)]
pub struct Grants {
    pub key_value_stores: HashMap<String, KvStore>,
    pub sqlite_databases: HashMap<String, SqlDatabase>,
    /// Component variable → its rendered value, or the application variable that had none.
    pub variables: HashMap<String, Result<String, String>>,
    pub allowed_hosts: Arc<Vec<AllowedHost>>,
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

pub fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::spin_interfaces::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Everything one request's instance owns; dropped with its store when the request ends.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub grants: Arc<Grants>,
    pub memory: InstanceMemory,
}

impl HostState {
    pub fn new(grants: Arc<Grants>, memory: InstanceMemory) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr()
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
            hooks: OutboundHooks {
                allowed: grants.allowed_hosts.clone(),
            },
            memory,
            grants,
        }
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
