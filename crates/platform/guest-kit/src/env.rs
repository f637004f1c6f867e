//! What a request may use: storage, configuration, the network and the clocks. One type for
//! every service, built by the component from its grants (see [`crate::component!`]) and by
//! native tests from in-memory or SQLite backends.

use crate::audit::Audit;
use crate::http::Fetch;
use crate::kv::Kv;
use crate::sql::Db;

/// The monotonic clock and sleeping, for bounded waits (guardian's Okta push poll). Wall-clock
/// time is [`Env::now_ms`], read once per request.
pub trait Clock {
    /// Milliseconds on a clock that never goes back (its origin is arbitrary).
    fn monotonic_ms(&self) -> u64;
    /// Blocks for `ms` milliseconds.
    fn sleep_ms(&self, ms: u64);
}

/// The platform's clock: std's monotonic clock, which on `wasm32-wasip2` is
/// `wasi:clocks/monotonic-clock`, imported by every component already.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn monotonic_ms(&self) -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let elapsed = START.get_or_init(std::time::Instant::now).elapsed();
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// One request's view of the platform. `kv` and `fetch` are `None` where the component is not
/// granted them, so that component never imports those interfaces.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The service's SQLite database.
    pub db: &'a dyn Db,
    /// The service's key-value store (rate-limit counters, JWKS caches).
    pub kv: Option<&'a dyn Kv>,
    /// Spin variable lookup (`None` = undefined); read through [`crate::config`].
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// Outbound HTTP (identity providers).
    pub fetch: Option<&'a dyn Fetch>,
    /// Monotonic time and sleeping.
    pub clock: &'a dyn Clock,
    /// Server time for this request, unix milliseconds. Read once per request so every check
    /// and the `Date` header agree.
    pub now_ms: i64,
    /// The request's audit record (docs/OPERATIONS.md, "Audit trail"); set by
    /// [`crate::audit::audited`].
    pub audit: Audit<'a>,
}

impl<'a> Env<'a> {
    /// An environment with only a database and variables; add the rest with the `with_*`
    /// methods.
    pub fn new(db: &'a dyn Db, vars: &'a dyn Fn(&str) -> Option<String>, now_ms: i64) -> Self {
        Self {
            db,
            kv: None,
            vars,
            fetch: None,
            clock: &SystemClock,
            now_ms,
            audit: Audit::default(),
        }
    }

    pub fn with_kv(mut self, kv: &'a dyn Kv) -> Self {
        self.kv = Some(kv);
        self
    }

    pub fn with_fetch(mut self, fetch: &'a dyn Fetch) -> Self {
        self.fetch = Some(fetch);
        self
    }

    pub fn with_clock(mut self, clock: &'a dyn Clock) -> Self {
        self.clock = clock;
        self
    }
}
