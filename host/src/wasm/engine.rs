//! The wasmtime engine: its configuration (pooling allocator, epoch interruption), the linker
//! every component is instantiated against, and the epoch ticker that drives deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::instance::HostState;

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

pub fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    HostState::add_capabilities_to_linker(&mut linker)?;
    Ok(linker)
}

/// The thread that advances the engine's epoch every [`EPOCH_TICK`]: without it no deadline fires
/// and no guest yields, so it is owned, and the host refuses to start if it cannot run.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-epoch".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread (request deadlines depend on it)")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
