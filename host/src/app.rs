//! Assembles a runnable application from the manifest, the runtime config and the state
//! directory: storage backends per label, grants per component, compiled components, the router,
//! and the front door's limits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use host_config::manifest::{App, ComponentSpec};
use host_config::runtime_config::RuntimeConfig;
use host_config::variables::Template;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::capabilities::key_value::{self, KeyValueGrants, KvStore};
use crate::capabilities::outbound_http::AllowedHost;
use crate::capabilities::outbound_http::address::AddressPolicy;
use crate::capabilities::sqlite::{self, Backend as SqlBackendHandle, SqlDatabase, SqliteGrants};
use crate::capabilities::variables::Resolver;
use crate::http::front_door::FrontDoorLimits;
use crate::http::front_door::connections::PeerQuota;
use crate::http::router::Router;
use crate::wasm::compile_cache::CompileCache;
use crate::wasm::engine::ExecutionLimits;
use crate::wasm::instance::{Grants, HostState, LoadedComponent};
use crate::wasm::memory_budget::MemoryBudget;
use embedded_sqlite::{EmbeddedFiles, Synchronous};

pub struct Runtime {
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub limits: ExecutionLimits,
    pub front_door: FrontDoorLimits,
    /// Open connections, host-wide and per peer.
    pub connections: Arc<PeerQuota>,
    /// Running instances, host-wide and per peer.
    pub instance_slots: Arc<PeerQuota>,
    pub memory_budget: Arc<MemoryBudget>,
}

/// What `keyward serve` was told, beyond the manifest and the runtime config.
pub struct Settings {
    pub limits: ExecutionLimits,
    pub front_door: FrontDoorLimits,
    pub sqlite_synchronous: Synchronous,
    pub sqlite_max_connections: usize,
    pub sqlite_group_commit: bool,
    /// The process's open-files limit: the connection cap must leave room below it for the
    /// storage backends' files and sockets.
    pub open_files_limit: u64,
    /// The non-public addresses guests' outbound requests may reach (`--allow-outbound-private`).
    pub outbound_addresses: Arc<AddressPolicy>,
}

pub fn build(
    app: &App,
    runtime_config: &RuntimeConfig,
    state_dir: &Path,
    cache: &CompileCache,
    settings: Settings,
) -> Result<Runtime> {
    let Settings {
        limits,
        mut front_door,
        sqlite_synchronous,
        sqlite_max_connections,
        sqlite_group_commit,
        open_files_limit,
        outbound_addresses,
    } = settings;
    let engine = crate::wasm::engine::engine(&limits)?;
    let linker = crate::wasm::engine::linker(&engine)?;
    let mut backends = Backends {
        config: runtime_config,
        state_dir,
        resolver: Resolver::new(&app.variables, &runtime_config.variable_providers)?,
        files: EmbeddedFiles::new(
            sqlite_synchronous,
            sqlite_max_connections,
            sqlite_group_commit,
        ),
        kv_stores: HashMap::new(),
        databases: HashMap::new(),
        outbound_addresses,
    };
    let mut components = HashMap::new();
    for spec in app.components.values() {
        let component = load_component(spec, &mut backends, &engine, &linker, cache)
            .with_context(|| format!("component `{}`", spec.id))?;
        components.insert(spec.id.clone(), Arc::new(component));
    }
    let router = Router::new(
        app.http_triggers
            .iter()
            .filter_map(|t| t.route.clone().map(|r| (r, t.component.clone()))),
    )?;
    let reserved = backends.max_descriptors();
    let fits = usize::try_from(open_files_limit.saturating_sub(reserved)).unwrap_or(usize::MAX);
    if fits < front_door.max_connections {
        tracing::info!(
            "connection cap lowered from {} to {fits}: the open-files limit is {open_files_limit} and storage may use {reserved}",
            front_door.max_connections
        );
        front_door.max_connections = fits.max(16);
    }
    Ok(Runtime {
        engine,
        router,
        components,
        connections: PeerQuota::new(
            front_door.max_connections,
            front_door.max_connections_per_peer,
        ),
        instance_slots: PeerQuota::new(
            usize::try_from(limits.max_instances).unwrap_or(usize::MAX),
            front_door.max_instances_per_peer,
        ),
        memory_budget: MemoryBudget::new(limits.memory_budget_bytes),
        limits,
        front_door,
    })
}

fn load_component(
    spec: &ComponentSpec,
    backends: &mut Backends<'_>,
    engine: &Engine,
    linker: &Linker<HostState>,
    cache: &CompileCache,
) -> Result<LoadedComponent> {
    let grants = backends.grants(spec)?;
    let component = cache.load(engine, &spec.source)?;
    let pre = linker
        .instantiate_pre(&component)
        .and_then(ProxyPre::new)
        .map_err(anyhow::Error::from)
        .context(
            "it cannot run here: it must export wasi:http/incoming-handler@0.2.x and import only WASI 0.2 and fermyon:spin/{key-value,sqlite,variables}@2.0.0",
        )?;
    Ok(LoadedComponent {
        id: spec.id.clone(),
        pre,
        grants: Arc::new(grants),
        max_body_bytes: spec.max_body_bytes,
    })
}

/// Every label's backend, opened once and shared by the components granted it.
struct Backends<'a> {
    config: &'a RuntimeConfig,
    state_dir: &'a Path,
    resolver: Resolver,
    files: EmbeddedFiles,
    kv_stores: HashMap<String, KvStore>,
    databases: HashMap<String, SqlDatabase>,
    outbound_addresses: Arc<AddressPolicy>,
}

impl Backends<'_> {
    /// Exactly what `spec` was granted: its labels bound to their backends, its variables
    /// rendered, its outbound hosts parsed.
    fn grants(&mut self, spec: &ComponentSpec) -> Result<Grants> {
        let key_value_stores = spec
            .key_value_stores
            .iter()
            .map(|label| Ok((label.clone(), self.kv_store(label)?)))
            .collect::<Result<KeyValueGrants>>()?;
        let sqlite_databases = spec
            .sqlite_databases
            .iter()
            .map(|label| Ok((label.clone(), self.database(label)?)))
            .collect::<Result<SqliteGrants>>()?;
        let variables = spec
            .variables
            .iter()
            .map(|(name, template)| (name.clone(), template.render(|v| self.resolver.get(v))))
            .collect();
        Ok(Grants {
            key_value_stores: Arc::new(key_value_stores),
            sqlite_databases: Arc::new(sqlite_databases),
            variables: Arc::new(variables),
            allowed_hosts: Arc::new(self.allowed_hosts(spec)?),
            outbound_addresses: self.outbound_addresses.clone(),
            environment: spec
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn kv_store(&mut self, label: &str) -> Result<KvStore> {
        let section = self.config.key_value_stores.get(label);
        opened_once(&mut self.kv_stores, label, || {
            key_value::config::open(section, label, self.state_dir, &mut self.files)
        })
    }

    fn database(&mut self, label: &str) -> Result<SqlDatabase> {
        let section = self.config.sqlite_databases.get(label);
        opened_once(&mut self.databases, label, || {
            sqlite::config::open(section, label, self.state_dir, &mut self.files)
        })
    }

    fn allowed_hosts(&self, spec: &ComponentSpec) -> Result<Vec<AllowedHost>> {
        let mut allowed = Vec::new();
        for entry in &spec.allowed_outbound_hosts {
            let rendered = Template::parse(entry)?
                .render(|v| self.resolver.get(v))
                .map_err(|v| {
                    anyhow::anyhow!("allowed_outbound_hosts `{entry}`: variable `{v}` has no value")
                })?;
            // A templated entry may expand to a comma-separated list, so one variable can carry
            // several hosts (e.g. an operator's JWKS hosts).
            for part in rendered.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                allowed.push(
                    AllowedHost::parse(part)
                        .with_context(|| format!("allowed_outbound_hosts `{entry}`"))?,
                );
            }
        }
        Ok(allowed)
    }

    /// File descriptors the storage backends may hold at most, plus a margin for the process's
    /// own (log, listener, runtime): a PostgreSQL or Redis connection holds one.
    fn max_descriptors(&self) -> u64 {
        const MARGIN: u64 = 64;
        let postgres: u64 = self
            .databases
            .values()
            .map(|d| match &d.backend {
                SqlBackendHandle::Postgres(pg) => pg.max_connections() as u64,
                SqlBackendHandle::Sqlite(_) => 0,
            })
            .sum();
        let redis = self
            .kv_stores
            .values()
            .filter(|s| matches!(s, KvStore::Redis(_)))
            .count() as u64;
        MARGIN + self.files.max_descriptors() + postgres + redis
    }
}

/// `label`'s backend from `opened`, or opened now and kept there, so that every component granted
/// a label shares one backend (one pool, one file).
fn opened_once<B: Clone>(
    opened: &mut HashMap<String, B>,
    label: &str,
    open: impl FnOnce() -> Result<B>,
) -> Result<B> {
    validate_label(label)?;
    if let Some(backend) = opened.get(label) {
        return Ok(backend.clone());
    }
    let backend = open()?;
    opened.insert(label.to_owned(), backend.clone());
    Ok(backend)
}

fn validate_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        bail!("invalid store/database label `{label}`: use letters, digits, `_` and `-`");
    }
    Ok(())
}
