//! Prometheus metrics (docs/OPERATIONS.md, "Metrics"), kept only when `--metrics-listen` is
//! set: otherwise [`get`] is `None` and every hook costs one atomic load.
//!
//! Labels name what the manifest and the runtime config name (route patterns, component ids,
//! storage backends, outbound hosts), never what a request carries: a path with an id in it, a
//! namespace, a user or a token would make a series per user and put their names into the
//! monitoring system. Every label set a request touches is created at start, so a request only
//! increments atomics (and takes a histogram's uncontended lock); only outbound hosts, which are
//! known when a call is made, are created on first use, and their number is capped.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The media type of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// What a metric is labelled with: names fixed by the code, values from configuration.
type Labels<const N: usize> = [(&'static str, String); N];
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// Distinct outbound hosts labelled by name; calls to further hosts count under `other`, so a
/// guest that can reach `*` cannot grow the metrics without bound.
const MAX_OUTBOUND_HOSTS: usize = 64;

/// A request's answer, from the host or the guest: 1xx to 5xx.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Why a request's guest did not answer on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestFailure {
    /// The guest trapped (a panic, an abort, an out-of-bounds access).
    Trap,
    /// The request's deadline stopped it (504).
    Timeout,
    /// It trapped after its memory could not grow past `--memory-limit`.
    MemoryLimit,
    /// Its memory could not grow because the host-wide `--memory-budget` was spent (503).
    MemoryBudget,
    /// Its instance could not be created.
    Instantiation,
    /// It returned without setting a response.
    NoResponse,
    /// It answered with a `wasi:http` error code instead of a response.
    ErrorCode,
    /// A storage backend it needed was unreachable (503).
    BackendUnavailable,
}

impl GuestFailure {
    const ALL: [GuestFailure; 8] = [
        GuestFailure::Trap,
        GuestFailure::Timeout,
        GuestFailure::MemoryLimit,
        GuestFailure::MemoryBudget,
        GuestFailure::Instantiation,
        GuestFailure::NoResponse,
        GuestFailure::ErrorCode,
        GuestFailure::BackendUnavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            GuestFailure::Trap => "trap",
            GuestFailure::Timeout => "timeout",
            GuestFailure::MemoryLimit => "memory_limit",
            GuestFailure::MemoryBudget => "memory_budget",
            GuestFailure::Instantiation => "instantiation",
            GuestFailure::NoResponse => "no_response",
            GuestFailure::ErrorCode => "error_code",
            GuestFailure::BackendUnavailable => "backend_unavailable",
        }
    }
}

/// Why the front door turned a connection or a request away before any guest ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConnectionCap,
    ConnectionCapPerPeer,
    InstanceCap,
    InstanceCapPerPeer,
    BodyTooLarge,
    BodyTimeout,
    BodyMalformed,
    BadRequest,
    HeadTooLarge,
}

impl Refusal {
    const ALL: [Refusal; 9] = [
        Refusal::ConnectionCap,
        Refusal::ConnectionCapPerPeer,
        Refusal::InstanceCap,
        Refusal::InstanceCapPerPeer,
        Refusal::BodyTooLarge,
        Refusal::BodyTimeout,
        Refusal::BodyMalformed,
        Refusal::BadRequest,
        Refusal::HeadTooLarge,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::ConnectionCap => "connection_cap",
            Refusal::ConnectionCapPerPeer => "connection_cap_per_peer",
            Refusal::InstanceCap => "instance_cap",
            Refusal::InstanceCapPerPeer => "instance_cap_per_peer",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::BodyMalformed => "body_malformed",
            Refusal::BadRequest => "bad_request",
            Refusal::HeadTooLarge => "head_too_large",
        }
    }
}

/// A storage backend, as the runtime config chooses it per label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `fermyon:spin/sqlite` on an embedded SQLite file.
    Sqlite,
    /// `fermyon:spin/sqlite` on PostgreSQL.
    Postgres,
    /// `fermyon:spin/key-value` on Redis.
    Redis,
    /// `fermyon:spin/key-value` on the embedded SQLite table.
    EmbeddedKv,
}

impl Backend {
    const ALL: [Backend; 4] = [
        Backend::Sqlite,
        Backend::Postgres,
        Backend::Redis,
        Backend::EmbeddedKv,
    ];

    fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Redis => "redis",
            Backend::EmbeddedKv => "embedded_kv",
        }
    }

    /// Its `db.system.name` in spans (OpenTelemetry's names; the embedded key-value store is a
    /// SQLite table).
    pub fn system(self) -> &'static str {
        match self {
            Backend::Sqlite | Backend::EmbeddedKv => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::Redis => "redis",
        }
    }

    /// The operations its interface has.
    fn operations(self) -> &'static [StorageOp] {
        match self {
            Backend::Sqlite | Backend::Postgres => &[StorageOp::Execute],
            Backend::Redis | Backend::EmbeddedKv => &[
                StorageOp::Get,
                StorageOp::Set,
                StorageOp::Delete,
                StorageOp::Exists,
                StorageOp::GetKeys,
            ],
        }
    }
}

/// One call a guest makes on a storage interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOp {
    Execute,
    Get,
    Set,
    Delete,
    Exists,
    GetKeys,
}

impl StorageOp {
    const COUNT: usize = 6;

    pub fn label(self) -> &'static str {
        match self {
            StorageOp::Execute => "execute",
            StorageOp::Get => "get",
            StorageOp::Set => "set",
            StorageOp::Delete => "delete",
            StorageOp::Exists => "exists",
            StorageOp::GetKeys => "get_keys",
        }
    }
}

/// How a storage call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOutcome {
    Ok,
    /// The backend answered with an error (reported to the guest).
    Failed,
    /// The backend could not be reached (the request is answered 503).
    Unavailable,
}

/// How an outbound request ended, as far as the host sees it (the response head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// A response arrived, whatever its status.
    Ok,
    /// The destination could not be reached or broke the exchange (DNS, connect, TLS, protocol).
    Error,
    /// Not in the component's `allowed_outbound_hosts`: never sent.
    Denied,
    /// A connect, DNS or first-byte timeout.
    Timeout,
    /// The destination resolved to a loopback, private, link-local or other non-public
    /// address the operator did not allow: never connected (docs/OPERATIONS.md, "Outbound
    /// safety").
    Prohibited,
}

impl OutboundOutcome {
    fn label(self) -> &'static str {
        match self {
            OutboundOutcome::Ok => "ok",
            OutboundOutcome::Error => "error",
            OutboundOutcome::Denied => "denied",
            OutboundOutcome::Timeout => "timeout",
            OutboundOutcome::Prohibited => "prohibited",
        }
    }
}

/// One component's series.
pub struct ComponentMetrics {
    instantiation: Histogram,
    failures: [Counter; GuestFailure::ALL.len()],
}

impl ComponentMetrics {
    pub fn instantiated(&self, took: Duration) {
        self.instantiation.observe(took.as_secs_f64());
    }

    pub fn failed(&self, why: GuestFailure) {
        if let Some(c) = self.failures.get(why as usize) {
            c.inc();
        }
    }
}

/// One route's series (or those of requests no route matched), with its component's.
pub struct RouteMetrics {
    requests: [Counter; STATUS_CLASSES.len()],
    duration: Histogram,
    pub component: std::sync::Arc<ComponentMetrics>,
}

impl RouteMetrics {
    /// A request to this route was answered with `status` after `took`.
    pub fn answered(&self, status: u16, took: Duration) {
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        if let Some(c) = self.requests.get(class) {
            c.inc();
        }
        self.duration.observe(took.as_secs_f64());
    }
}

struct StorageSeries {
    duration: [Option<Histogram>; StorageOp::COUNT],
    failed: Counter,
    unavailable: Counter,
}

/// What the scrape reads from the running host rather than counting itself.
pub struct Levels {
    pub instances_in_use: usize,
    pub instances_capacity: usize,
    pub connections_open: usize,
    pub connections_capacity: usize,
    pub guest_memory_bytes: usize,
    pub guest_memory_budget_bytes: usize,
}

pub struct Metrics {
    registry: Registry,
    routes: Vec<RouteMetrics>,
    unrouted: RouteMetrics,
    storage: [StorageSeries; Backend::ALL.len()],
    outbound_requests: Family<Labels<2>, Counter>,
    outbound_duration: Histograms<1>,
    outbound_hosts: Mutex<HashSet<String>>,
    refusals: [Counter; Refusal::ALL.len()],
    instances_in_use: Gauge,
    instances_capacity: Gauge,
    connections_open: Gauge,
    connections_capacity: Gauge,
    guest_memory: Gauge,
    guest_memory_budget: Gauge,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The host's metrics, when `--metrics-listen` turned them on.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Turns metrics on for `routes` (pattern and component, in the router's order; see
/// [`Metrics::route`]). Called once, at start.
pub fn install<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(routes))
}

fn request_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

fn instantiation_buckets() -> Histogram {
    Histogram::new([
        0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
    ])
}

fn storage_buckets() -> Histogram {
    Histogram::new([
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 5.0,
    ])
}

fn outbound_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

fn label(value: &str) -> String {
    value.to_owned()
}

impl Metrics {
    fn new<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Metrics {
        let mut registry = Registry::with_prefix("keyward");

        let build = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "The keyward host's version; always 1", build);

        let requests = Family::<Labels<3>, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route pattern (from spin.toml), component and status class; `-` when no route matched",
            requests.clone(),
        );
        let duration: Histograms<2> = Family::new_with_constructor(request_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's head to its response head, by route pattern and component",
            Unit::Seconds,
            duration.clone(),
        );
        let instantiation: Histograms<1> = Family::new_with_constructor(instantiation_buckets);
        registry.register_with_unit(
            "instantiation_duration",
            "Time to create a request's store and instance, by component",
            Unit::Seconds,
            instantiation.clone(),
        );
        let failures = Family::<Labels<2>, Counter>::default();
        registry.register(
            "guest_failures",
            "Requests whose guest did not answer on its own, by component and reason (trap, timeout, memory_limit, memory_budget, instantiation, no_response, error_code, backend_unavailable)",
            failures.clone(),
        );

        let mut components = std::collections::HashMap::new();
        let mut component = |id: &str| {
            components
                .entry(id.to_owned())
                .or_insert_with(|| {
                    std::sync::Arc::new(ComponentMetrics {
                        instantiation: instantiation
                            .get_or_create_owned(&[("component", label(id))]),
                        failures: GuestFailure::ALL.map(|why| {
                            failures.get_or_create_owned(&[
                                ("component", label(id)),
                                ("reason", label(why.label())),
                            ])
                        }),
                    })
                })
                .clone()
        };
        let mut route = |pattern: &str, id: &str| RouteMetrics {
            requests: STATUS_CLASSES.map(|class| {
                requests.get_or_create_owned(&[
                    ("route", label(pattern)),
                    ("component", label(id)),
                    ("status_class", label(class)),
                ])
            }),
            duration: duration
                .get_or_create_owned(&[("route", label(pattern)), ("component", label(id))]),
            component: component(id),
        };
        let routes: Vec<RouteMetrics> = routes.into_iter().map(|(p, c)| route(p, c)).collect();
        let unrouted = route("-", "-");

        let storage_duration: Histograms<2> = Family::new_with_constructor(storage_buckets);
        registry.register_with_unit(
            "storage_operation_duration",
            "Time of one storage call a guest made, by backend (sqlite, postgres, redis, embedded_kv) and operation",
            Unit::Seconds,
            storage_duration.clone(),
        );
        let storage_errors = Family::<Labels<2>, Counter>::default();
        registry.register(
            "storage_errors",
            "Storage calls that failed, by backend and kind (error: the backend refused the call; unavailable: it could not be reached)",
            storage_errors.clone(),
        );
        let storage = Backend::ALL.map(|backend| {
            let mut duration: [Option<Histogram>; StorageOp::COUNT] = Default::default();
            for op in backend.operations() {
                if let Some(slot) = duration.get_mut(*op as usize) {
                    *slot = Some(storage_duration.get_or_create_owned(&[
                        ("backend", label(backend.label())),
                        ("operation", label(op.label())),
                    ]));
                }
            }
            let errors = |kind: &str| {
                storage_errors.get_or_create_owned(&[
                    ("backend", label(backend.label())),
                    ("kind", label(kind)),
                ])
            };
            StorageSeries {
                duration,
                failed: errors("error"),
                unavailable: errors("unavailable"),
            }
        });

        let outbound_requests = Family::<Labels<2>, Counter>::default();
        registry.register(
            "outbound_requests",
            "Outbound HTTP requests guests made, by destination host[:port] and outcome (ok, error, denied, timeout)",
            outbound_requests.clone(),
        );
        let outbound_duration: Histograms<1> = Family::new_with_constructor(outbound_buckets);
        registry.register_with_unit(
            "outbound_request_duration",
            "Time from sending an outbound request to its response head (or its failure), by destination",
            Unit::Seconds,
            outbound_duration.clone(),
        );

        let refusals_family = Family::<Labels<1>, Counter>::default();
        registry.register(
            "front_door_refusals",
            "Connections and requests the host turned away before any guest ran, by reason",
            refusals_family.clone(),
        );
        let refusals = Refusal::ALL
            .map(|r| refusals_family.get_or_create_owned(&[("reason", label(r.label()))]));

        let mut gauge = |name: &str, help: &str, unit: Option<Unit>| {
            let g = Gauge::default();
            match unit {
                Some(unit) => registry.register_with_unit(name, help, unit, g.clone()),
                None => registry.register(name, help, g.clone()),
            }
            g
        };
        let instances_in_use = gauge(
            "instances_in_use",
            "Instance slots held by requests now",
            None,
        );
        let instances_capacity = gauge(
            "instances_capacity",
            "Instance slots in all (--max-instances)",
            None,
        );
        let connections_open = gauge("connections_open", "Client connections open now", None);
        let connections_capacity = gauge(
            "connections_capacity",
            "Client connections the host accepts at once (--max-connections, as lowered to fit the open-files limit)",
            None,
        );
        let guest_memory = gauge(
            "guest_memory",
            "Guest linear memory running instances hold now",
            Some(Unit::Bytes),
        );
        let guest_memory_budget = gauge(
            "guest_memory_budget",
            "Guest linear memory all instances may hold together (--memory-budget)",
            Some(Unit::Bytes),
        );

        Metrics {
            registry,
            routes,
            unrouted,
            storage,
            outbound_requests,
            outbound_duration,
            outbound_hosts: Mutex::new(HashSet::new()),
            refusals,
            instances_in_use,
            instances_capacity,
            connections_open,
            connections_capacity,
            guest_memory,
            guest_memory_budget,
        }
    }

    /// The series of the route at `index` (see `Router::routes`), or of unrouted requests.
    pub fn route(&self, index: Option<usize>) -> &RouteMetrics {
        index
            .and_then(|i| self.routes.get(i))
            .unwrap_or(&self.unrouted)
    }

    pub fn refused(&self, why: Refusal) {
        if let Some(c) = self.refusals.get(why as usize) {
            c.inc();
        }
    }

    pub fn storage(
        &self,
        backend: Backend,
        op: StorageOp,
        took: Duration,
        outcome: StorageOutcome,
    ) {
        let Some(series) = self.storage.get(backend as usize) else {
            return;
        };
        if let Some(Some(h)) = series.duration.get(op as usize) {
            h.observe(took.as_secs_f64());
        }
        match outcome {
            StorageOutcome::Ok => {}
            StorageOutcome::Failed => {
                series.failed.inc();
            }
            StorageOutcome::Unavailable => {
                series.unavailable.inc();
            }
        }
    }

    /// An outbound request to `host` (host or host:port as the guest addressed it) ended.
    pub fn outbound(&self, host: &str, outcome: OutboundOutcome, took: Duration) {
        let host = {
            let mut known = self
                .outbound_hosts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if known.contains(host) {
                host.to_owned()
            } else if known.len() < MAX_OUTBOUND_HOSTS {
                known.insert(host.to_owned());
                host.to_owned()
            } else {
                "other".to_owned()
            }
        };
        self.outbound_requests
            .get_or_create(&[("host", host.clone()), ("outcome", label(outcome.label()))])
            .inc();
        if !matches!(
            outcome,
            OutboundOutcome::Denied | OutboundOutcome::Prohibited
        ) {
            self.outbound_duration
                .get_or_create(&[("host", host)])
                .observe(took.as_secs_f64());
        }
    }

    /// The exposition, with the levels read now.
    pub fn encode(&self, levels: &Levels) -> Result<String, std::fmt::Error> {
        let set = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.instances_in_use, levels.instances_in_use);
        set(&self.instances_capacity, levels.instances_capacity);
        set(&self.connections_open, levels.connections_open);
        set(&self.connections_capacity, levels.connections_capacity);
        set(&self.guest_memory, levels.guest_memory_bytes);
        set(&self.guest_memory_budget, levels.guest_memory_budget_bytes);
        let mut out = String::with_capacity(16 * 1024);
        prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Levels {
        Levels {
            instances_in_use: 1,
            instances_capacity: 8,
            connections_open: 2,
            connections_capacity: 16,
            guest_memory_bytes: 65536,
            guest_memory_budget_bytes: 1 << 20,
        }
    }

    #[test]
    fn series_exist_from_the_start_and_move_by_one() {
        let m = Metrics::new([("/a/...", "probe"), ("/b", "probe")]);
        let before = m.encode(&levels()).unwrap();
        assert!(before.contains(
            "keyward_http_requests_total{route=\"/a/...\",component=\"probe\",status_class=\"2xx\"} 0\n"
        ));
        assert!(before.contains("keyward_build_info{version=\""));
        assert!(before.contains("keyward_instances_capacity 8\n"));
        assert!(before.contains("keyward_guest_memory_bytes 65536\n"));
        m.route(Some(1)).answered(204, Duration::from_millis(3));
        m.route(None).answered(404, Duration::from_millis(1));
        m.route(Some(0)).component.failed(GuestFailure::MemoryLimit);
        m.storage(
            Backend::Postgres,
            StorageOp::Execute,
            Duration::from_millis(1),
            StorageOutcome::Unavailable,
        );
        m.outbound(
            "idp.example:8443",
            OutboundOutcome::Timeout,
            Duration::from_secs(1),
        );
        let after = m.encode(&levels()).unwrap();
        for line in [
            "keyward_http_requests_total{route=\"/b\",component=\"probe\",status_class=\"2xx\"} 1\n",
            "keyward_http_requests_total{route=\"-\",component=\"-\",status_class=\"4xx\"} 1\n",
            "keyward_http_request_duration_seconds_count{route=\"/b\",component=\"probe\"} 1\n",
            "keyward_guest_failures_total{component=\"probe\",reason=\"memory_limit\"} 1\n",
            "keyward_storage_errors_total{backend=\"postgres\",kind=\"unavailable\"} 1\n",
            "keyward_storage_operation_duration_seconds_count{backend=\"postgres\",operation=\"execute\"} 1\n",
            "keyward_outbound_requests_total{host=\"idp.example:8443\",outcome=\"timeout\"} 1\n",
        ] {
            assert!(after.contains(line), "{line}\n{after}");
        }
        // Both routes of one component share its series.
        assert!(std::sync::Arc::ptr_eq(
            &m.route(Some(0)).component,
            &m.route(Some(1)).component
        ));
        // Operations a backend does not have get no series.
        assert!(!after.contains("backend=\"sqlite\",operation=\"get\""));
    }

    #[test]
    fn outbound_hosts_are_capped() {
        let m = Metrics::new([]);
        for i in 0..MAX_OUTBOUND_HOSTS + 5 {
            m.outbound(&format!("h{i}.test"), OutboundOutcome::Ok, Duration::ZERO);
        }
        let text = m.encode(&levels()).unwrap();
        assert!(
            text.contains("keyward_outbound_requests_total{host=\"other\",outcome=\"ok\"} 5\n")
        );
        assert!(!text.contains(&format!("h{MAX_OUTBOUND_HOSTS}.test")));
    }
}
