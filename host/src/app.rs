//! Assembles a runnable application from the manifest, the runtime config and the state
//! directory: storage backends per label, grants per component, compiled components, the router.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::compile_cache::CompileCache;
use crate::front_door::FrontDoorLimits;
use crate::front_door::connections::PeerQuota;
use crate::instance::{ExecutionLimits, Grants, LoadedComponent};
use crate::manifest::{App, ComponentSpec};
use crate::memory_budget::MemoryBudget;
use crate::outbound::AllowedHost;
use crate::router::Router;
use crate::runtime_config::{KvBackend, RuntimeConfig, SqlBackend};
use crate::storage::kv::{self, KvStore};
use crate::storage::postgres::PgDatabase;
use crate::storage::redis_kv::RedisKv;
use crate::storage::sql::SqlDatabase;
use crate::storage::sqlite_pool::{SqlitePool, Synchronous};
use crate::variables::Resolver;

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
    /// The process's open-files limit: the connection cap must leave room below it for the
    /// storage backends' files and sockets.
    pub open_files_limit: u64,
}

/// Embedded SQLite files are shared by every label that maps to the same path.
struct Pools {
    open: HashMap<PathBuf, Arc<SqlitePool>>,
    synchronous: Synchronous,
    max_connections: usize,
}

impl Pools {
    fn get(&mut self, path: PathBuf, is_kv: bool) -> Result<Arc<SqlitePool>> {
        if let Some(p) = self.open.get(&path) {
            return Ok(p.clone());
        }
        let pool = SqlitePool::open(&path, self.synchronous, self.max_connections)?;
        if is_kv {
            kv::init_sqlite(&pool)?;
        }
        self.open.insert(path, pool.clone());
        Ok(pool)
    }
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
        open_files_limit,
    } = settings;
    let engine = crate::instance::engine(&limits)?;
    let linker = crate::instance::linker(&engine)?;
    let resolver = Resolver::new(&app.variables, &runtime_config.variable_providers)?;
    let mut pools = Pools {
        open: HashMap::new(),
        synchronous: sqlite_synchronous,
        max_connections: sqlite_max_connections.max(1),
    };
    let mut kv_stores: HashMap<String, KvStore> = HashMap::new();
    let mut databases: HashMap<String, SqlDatabase> = HashMap::new();

    let mut components = HashMap::new();
    for spec in app.components.values() {
        let grants = grants(
            spec,
            runtime_config,
            state_dir,
            &resolver,
            &mut pools,
            &mut kv_stores,
            &mut databases,
        )
        .with_context(|| format!("component `{}`", spec.id))?;
        let component = cache
            .load(&engine, &spec.source)
            .with_context(|| format!("component `{}`", spec.id))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component `{}` cannot run here: it must export wasi:http/incoming-handler@0.2.x and import only WASI 0.2 and fermyon:spin/{{key-value,sqlite,variables}}@2.0.0",
                    spec.id
                )
            })?;
        components.insert(
            spec.id.clone(),
            Arc::new(LoadedComponent {
                id: spec.id.clone(),
                pre,
                grants: Arc::new(grants),
                max_body_bytes: spec.max_body_bytes,
            }),
        );
    }

    let router = Router::new(
        app.http_triggers
            .iter()
            .filter_map(|t| t.route.clone().map(|r| (r, t.component.clone()))),
    )?;
    let reserved = storage_descriptors(&pools, &databases, &kv_stores);
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

/// File descriptors the storage backends may hold at most, plus a margin for the process's own
/// (log, listener, runtime): an embedded SQLite connection holds three (database, WAL, shared
/// memory), a PostgreSQL or Redis connection one.
fn storage_descriptors(
    pools: &Pools,
    databases: &HashMap<String, SqlDatabase>,
    kv_stores: &HashMap<String, KvStore>,
) -> u64 {
    const MARGIN: u64 = 64;
    let sqlite = pools.open.len() as u64 * 3 * pools.max_connections as u64;
    let postgres: u64 = databases
        .values()
        .map(|d| match d {
            SqlDatabase::Postgres(pg) => pg.max_connections() as u64,
            SqlDatabase::Sqlite(_) => 0,
        })
        .sum();
    let redis = kv_stores
        .values()
        .filter(|s| matches!(s, KvStore::Redis(_)))
        .count() as u64;
    MARGIN + sqlite + postgres + redis
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

#[allow(clippy::too_many_arguments)]
fn grants(
    spec: &ComponentSpec,
    rc: &RuntimeConfig,
    state_dir: &Path,
    resolver: &Resolver,
    pools: &mut Pools,
    kv_stores: &mut HashMap<String, KvStore>,
    databases: &mut HashMap<String, SqlDatabase>,
) -> Result<Grants> {
    let mut key_value_stores = HashMap::new();
    for label in &spec.key_value_stores {
        validate_label(label)?;
        let store = match kv_stores.get(label) {
            Some(s) => s.clone(),
            None => {
                let store = match rc.key_value_stores.get(label) {
                    Some(KvBackend::Spin { path: Some(path) }) => KvStore::Sqlite {
                        pool: pools.get(path.clone(), true)?,
                        label: label.clone(),
                    },
                    Some(KvBackend::Redis { url, prefix }) => {
                        KvStore::Redis(Arc::new(RedisKv::new(label, url, prefix)?))
                    }
                    Some(KvBackend::Spin { path: None }) | None => KvStore::Sqlite {
                        pool: pools.get(state_dir.join("sqlite_key_value.db"), true)?,
                        label: label.clone(),
                    },
                };
                kv_stores.insert(label.clone(), store.clone());
                store
            }
        };
        key_value_stores.insert(label.clone(), store);
    }

    let mut sqlite_databases = HashMap::new();
    for label in &spec.sqlite_databases {
        validate_label(label)?;
        let db = match databases.get(label) {
            Some(d) => d.clone(),
            None => {
                let default_file = if label == "default" {
                    "sqlite_db.db".to_string()
                } else {
                    format!("{label}.db")
                };
                let db = match rc.sqlite_databases.get(label) {
                    Some(SqlBackend::Spin { path: Some(path) }) => {
                        SqlDatabase::Sqlite(pools.get(path.clone(), false)?)
                    }
                    Some(SqlBackend::Postgres { url, pool_size }) => {
                        SqlDatabase::Postgres(PgDatabase::new(label, url, *pool_size)?)
                    }
                    Some(SqlBackend::Spin { path: None }) | None => {
                        SqlDatabase::Sqlite(pools.get(state_dir.join(default_file), false)?)
                    }
                };
                databases.insert(label.clone(), db.clone());
                db
            }
        };
        sqlite_databases.insert(label.clone(), db);
    }

    let variables = spec
        .variables
        .iter()
        .map(|(name, template)| (name.clone(), template.render(|v| resolver.get(v))))
        .collect();

    let mut allowed_hosts = Vec::new();
    for entry in &spec.allowed_outbound_hosts {
        let rendered = crate::variables::Template::parse(entry)?
            .render(|v| resolver.get(v))
            .map_err(|v| {
                anyhow::anyhow!("allowed_outbound_hosts `{entry}`: variable `{v}` has no value")
            })?;
        // A templated entry may expand to a comma-separated list, so one variable can carry
        // several hosts (e.g. an operator's JWKS hosts).
        for part in rendered.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            allowed_hosts.push(
                AllowedHost::parse(part)
                    .with_context(|| format!("allowed_outbound_hosts `{entry}`"))?,
            );
        }
    }

    Ok(Grants {
        key_value_stores,
        sqlite_databases,
        variables,
        allowed_hosts: Arc::new(allowed_hosts),
        environment: spec
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}
