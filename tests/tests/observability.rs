//! What an operator sees of a running host (docs/OPERATIONS.md, "Metrics", "Health", "Request
//! ids"): the metrics listener read with a Prometheus text-format parser, `/livez` and `/readyz`,
//! and the request id in the access log and in what the guest receives.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use keyward_e2e::keyservice as ks;
use keyward_e2e::{Host, HostBuilder, Stub, Value, guest_manifest, json, request};

/// The conformance guest on `/a/...` (key-value and SQL on `default`, outbound HTTP to any
/// loopback port) and on the exact route `/plain`.
fn probe_manifest() -> String {
    guest_manifest(
        "observability",
        "",
        &[("/a/...", "probe"), ("/plain", "plain")],
        &[
            (
                "probe",
                "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]\nallowed_outbound_hosts = [\"http://127.0.0.1:*\"]",
            ),
            ("plain", ""),
        ],
    )
}

/// The backends `default` is served by on this pass: (SQL, key-value), as metrics label them.
fn default_backends() -> (&'static str, &'static str) {
    match keyward_e2e::Backend::from_env() {
        keyward_e2e::Backend::Embedded => ("sqlite", "embedded_kv"),
        keyward_e2e::Backend::ScaleOut { .. } => ("postgres", "redis"),
    }
}

/// Starts `builder` with the metrics listener on a free port.
fn with_metrics(builder: HostBuilder) -> Host {
    builder.arg("--metrics-listen").arg("127.0.0.1:0").start()
}

/// The metrics listener's address, from the host's log line announcing it.
fn metrics_url(h: &Host) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = h.log_lines().iter().find_map(|l| {
            l.contains("metrics at /metrics")
                .then(|| l.split("address=").nth(1))
                .flatten()
                .map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
        });
        if let Some(addr) = found {
            return format!("http://{addr}/metrics");
        }
        assert!(Instant::now() < deadline, "no metrics address in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One scrape, as the raw text and as parsed samples.
struct Scrape {
    text: String,
    samples: Vec<prometheus_parse::Sample>,
}

fn scrape(h: &Host) -> Scrape {
    let r = request("GET", &metrics_url(h), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("a valid Prometheus text exposition");
    Scrape {
        text,
        samples: parsed.samples,
    }
}

impl Scrape {
    /// The value of the counter, gauge or untyped sample `metric` with exactly `labels`
    /// (0 when the series does not exist).
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.metric == metric && same_labels(&s.labels, labels))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{metric} is not a single value: {other:?}"),
            })
            .collect();
        assert!(matching.len() <= 1, "{metric} {labels:?}: {matching:?}");
        matching.first().copied().unwrap_or(0.0)
    }

    /// A histogram's observation count (its `+Inf` bucket, which must equal `_count`).
    fn histogram_count(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let buckets = self.samples.iter().find_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b)
                if s.metric == metric && same_labels(&s.labels, labels) =>
            {
                Some(b.clone())
            }
            _ => None,
        });
        let Some(buckets) = buckets else {
            return 0.0;
        };
        // Buckets are cumulative: never decreasing, the last one is +Inf.
        assert!(
            buckets.windows(2).all(|w| w[0].count <= w[1].count),
            "{buckets:?}"
        );
        let inf = buckets.last().expect("buckets");
        assert!(inf.less_than.is_infinite(), "{buckets:?}");
        assert_eq!(inf.count, self.value(&format!("{metric}_count"), labels));
        inf.count
    }
}

fn same_labels(have: &prometheus_parse::Labels, want: &[(&str, &str)]) -> bool {
    have.len() == want.len() && want.iter().all(|(k, v)| have.get(k) == Some(*v))
}

fn delta(before: &Scrape, after: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(metric, labels) - before.value(metric, labels)
}

fn histogram_delta(before: &Scrape, after: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    after.histogram_count(metric, labels) - before.histogram_count(metric, labels)
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn counters_and_histograms_move_by_exactly_the_requests_sent() {
    let stub = Stub::start(|_| (200, "text/plain", b"from the stub".to_vec()));
    let h = with_metrics(
        HostBuilder::new(probe_manifest())
            .arg("--max-instances")
            .arg("32")
            .arg("--memory-limit")
            .arg("24")
            .arg("--request-timeout")
            .arg("1"),
    );
    let before = scrape(&h);
    assert_eq!(before.value("keyward_instances_capacity", &[]), 32.0);
    assert_eq!(
        before.value("keyward_build_info", &[("version", "0.1.0")]),
        1.0
    );

    const ECHOES: usize = 5;
    for _ in 0..ECHOES {
        assert_eq!(h.get("/a/echo").status, 200);
    }
    for i in 0..3 {
        assert_eq!(h.put(&format!("/a/kv/default/k{i}"), b"v").status, 200);
    }
    let sql = json!({"sql": "SELECT 1", "params": []}).to_string();
    for _ in 0..2 {
        let r = h.post("/a/sql/default", sql.as_bytes());
        assert_eq!(r.json()["ok"]["rows"], json!([[{"integer": 1}]]));
    }
    assert_eq!(h.get("/plain").status, 404); // the guest's own 404: still a routed answer
    for _ in 0..2 {
        assert_eq!(h.get("/nowhere").status, 404); // no route
    }
    assert_eq!(h.get("/a/trap").status, 500);
    assert_eq!(h.get("/a/alloc?mib=64").status, 500);
    assert_eq!(h.get("/a/busy").status, 504);
    let outbound = |url: &str| h.get(&format!("/a/outbound?url={url}")).json();
    for _ in 0..2 {
        let r = outbound(&format!("http://127.0.0.1:{}/x", stub.port));
        assert_eq!(r["ok"]["status"], 200, "{r}");
    }
    let closed = closed_port();
    assert!(outbound(&format!("http://127.0.0.1:{closed}/x"))["error"].is_string());
    let denied = outbound(&format!("https://127.0.0.1:{}/x", stub.port));
    assert!(
        denied["error"].to_string().contains("HttpRequestDenied"),
        "{denied}"
    );
    let after = scrape(&h);

    let requests = "keyward_http_requests_total";
    let route = |class: &'static str| {
        [
            ("route", "/a/..."),
            ("component", "probe"),
            ("status_class", class),
        ]
    };
    // echo, kv, sql and the three outbound calls (the guest reports their failures in a 200).
    let routed_ok = (ECHOES + 3 + 2 + 4) as f64;
    assert_eq!(delta(&before, &after, requests, &route("2xx")), routed_ok);
    // trap, memory limit: 500; deadline: 504.
    assert_eq!(delta(&before, &after, requests, &route("5xx")), 3.0);
    assert_eq!(delta(&before, &after, requests, &route("4xx")), 0.0);
    let plain = [
        ("route", "/plain"),
        ("component", "plain"),
        ("status_class", "4xx"),
    ];
    assert_eq!(delta(&before, &after, requests, &plain), 1.0);
    let unrouted = [("route", "-"), ("component", "-"), ("status_class", "4xx")];
    assert_eq!(delta(&before, &after, requests, &unrouted), 2.0);

    let duration = "keyward_http_request_duration_seconds";
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            duration,
            &[("route", "/a/..."), ("component", "probe")]
        ),
        routed_ok + 3.0
    );
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            duration,
            &[("route", "-"), ("component", "-")]
        ),
        2.0
    );
    // Every routed request made an instance.
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            "keyward_instantiation_duration_seconds",
            &[("component", "probe")]
        ),
        routed_ok + 3.0
    );

    let failures = "keyward_guest_failures_total";
    for (reason, n) in [
        ("trap", 1.0),
        ("memory_limit", 1.0),
        ("timeout", 1.0),
        ("memory_budget", 0.0),
        ("backend_unavailable", 0.0),
    ] {
        assert_eq!(
            delta(
                &before,
                &after,
                failures,
                &[("component", "probe"), ("reason", reason)]
            ),
            n,
            "{reason}"
        );
    }

    let storage = "keyward_storage_operation_duration_seconds";
    let (sql_backend, kv_backend) = default_backends();
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            storage,
            &[("backend", kv_backend), ("operation", "set")]
        ),
        3.0
    );
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            storage,
            &[("backend", sql_backend), ("operation", "execute")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "keyward_storage_errors_total",
            &[("backend", sql_backend), ("kind", "error")]
        ),
        0.0
    );

    let out = "keyward_outbound_requests_total";
    let stub_host = format!("127.0.0.1:{}", stub.port);
    let closed_host = format!("127.0.0.1:{closed}");
    assert_eq!(
        delta(
            &before,
            &after,
            out,
            &[("host", &stub_host), ("outcome", "ok")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            out,
            &[("host", &closed_host), ("outcome", "error")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            out,
            &[("host", &stub_host), ("outcome", "denied")]
        ),
        1.0
    );
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            "keyward_outbound_request_duration_seconds",
            &[("host", &stub_host)]
        ),
        2.0
    );
    // Nothing stays running once every answer is in. An instance's slot is released when the
    // instance is dropped, which can be a moment after its response's last byte reached the
    // client, so the gauge is read until it settles (a leaked slot never does).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut in_use = after.value("keyward_instances_in_use", &[]);
    while in_use != 0.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        in_use = scrape(&h).value("keyward_instances_in_use", &[]);
    }
    assert_eq!(in_use, 0.0, "an instance slot stayed in use");
    assert!(
        after
            .text
            .contains("# TYPE keyward_http_requests_total counter")
    );
}

#[test]
fn front_door_refusals_are_counted_by_reason() {
    let h = with_metrics(HostBuilder::new(probe_manifest()).env("KEYWARD_MAX_BODY_BYTES", "1024"));
    let before = scrape(&h);
    let big = vec![b'x'; 4096];
    for _ in 0..2 {
        assert_eq!(h.put("/a/kv/default/k", &big).status, 413);
    }
    let after = scrape(&h);
    let refusals = "keyward_front_door_refusals_total";
    assert_eq!(
        delta(&before, &after, refusals, &[("reason", "body_too_large")]),
        2.0
    );
    assert_eq!(
        delta(&before, &after, refusals, &[("reason", "instance_cap")]),
        0.0
    );
    // A refused request never reached a guest, but it was answered on its route.
    let route = [
        ("route", "/a/..."),
        ("component", "probe"),
        ("status_class", "4xx"),
    ];
    assert_eq!(
        delta(&before, &after, "keyward_http_requests_total", &route),
        2.0
    );
    assert_eq!(
        histogram_delta(
            &before,
            &after,
            "keyward_instantiation_duration_seconds",
            &[("component", "probe")]
        ),
        0.0
    );
}

/// Every label value of every series is one the configuration or the code named: route
/// patterns, component ids, fixed words, backends, outbound hosts. None is what a request
/// carried: namespaces, user ids, tokens, secrets, key paths, request ids, query strings.
#[test]
fn no_label_holds_what_a_request_carried() {
    let h = with_metrics(ks::host());
    let namespace = "obs_ns_5f1c2a";
    let user = "obs-user-77d3";
    let secret = ks::create_namespace(&h.base, namespace);
    let s = ks::session(&h.base, namespace, &secret, user);
    assert_eq!(ks::key(&h.base, &s, "PUT", b"key-material-obs").status, 204);
    assert_eq!(ks::key(&h.base, &s, "GET", b"").status, 200);
    let r = h.req(
        "GET",
        &format!("/admin/namespaces/{namespace}?token=obs-query-token"),
        &[
            ("authorization", &format!("Bearer {}", ks::ADMIN_TOKEN)),
            ("x-request-id", "obs-request-id-1"),
        ],
        None,
    );
    assert!(r.status < 500, "{}", r.text());
    let m = scrape(&h);

    for carried in [
        namespace,
        user,
        &secret,
        &s.token,
        &s.init_token,
        ks::ADMIN_TOKEN,
        "key-material-obs",
        "obs-query-token",
        "obs-request-id-1",
    ] {
        assert!(!m.text.contains(carried), "the metrics contain {carried:?}");
    }

    let manifest: toml::Value = toml::from_str(&keyward_e2e::product_manifest()).unwrap();
    let mut allowed: Vec<String> = ["-", "1xx", "2xx", "3xx", "4xx", "5xx", "0.1.0"]
        .into_iter()
        .map(String::from)
        .collect();
    for trigger in manifest["trigger"]["http"].as_array().unwrap() {
        if let Some(route) = trigger["route"].as_str() {
            allowed.push(route.to_owned());
        }
        allowed.push(trigger["component"].as_str().unwrap().to_owned());
    }
    let words: HashMap<&str, &[&str]> = HashMap::from([
        (
            "reason",
            &[
                "trap",
                "timeout",
                "memory_limit",
                "memory_budget",
                "instantiation",
                "no_response",
                "error_code",
                "backend_unavailable",
                "connection_cap",
                "connection_cap_per_peer",
                "instance_cap",
                "instance_cap_per_peer",
                "body_too_large",
                "body_timeout",
                "body_malformed",
                "bad_request",
                "head_too_large",
            ][..],
        ),
        (
            "backend",
            &["sqlite", "postgres", "redis", "embedded_kv"][..],
        ),
        (
            "operation",
            &["execute", "get", "set", "delete", "exists", "get_keys"][..],
        ),
        ("kind", &["error", "unavailable"][..]),
        ("outcome", &["ok", "error", "denied", "timeout"][..]),
    ]);
    let mut checked = 0;
    for sample in &m.samples {
        for (name, value) in sample.labels.iter() {
            let ok = match name.as_str() {
                "route" | "component" | "status_class" | "version" => allowed.contains(value),
                "le" => value.parse::<f64>().is_ok() || value == "+Inf",
                other => words
                    .get(other)
                    .is_some_and(|known| known.contains(&value.as_str())),
            };
            assert!(ok, "{}: label {name}={value:?}", sample.metric);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} labels seen");
}

fn health(h: &Host, path: &str) -> (u16, Value) {
    let r = h.get(path);
    assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    (r.status, r.json())
}

/// The shape of shield's `/healthz`: status, an RFC 3339 time, checks of name and status.
fn assert_health_shape(body: &Value) {
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["at", "checks", "status"], "{body}");
    let at = body["at"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && &at[10..11] == "T",
        "{at}"
    );
    for check in body["checks"].as_array().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "status"], "{check}");
    }
}

#[test]
fn livez_and_readyz_on_a_healthy_host_in_the_shape_of_healthz() {
    let h = keyward_e2e::shield::builder().start();
    let (status, live) = health(&h, "/livez");
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["status"], "healthy");
    assert_health_shape(&live);

    let (status, ready) = health(&h, "/readyz");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "healthy");
    assert_health_shape(&ready);
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "healthy", "{c}");
            c["name"].as_str().unwrap()
        })
        .collect();
    // Every label the product's components are granted, once each.
    assert_eq!(
        names,
        [
            "key_value_store.guardian",
            "key_value_store.keyservice",
            "key_value_store.shield",
            "sqlite_database.guardian",
            "sqlite_database.keyservice",
            "sqlite_database.shield",
        ]
    );

    // shield's own /healthz is unchanged, and both speak one shape.
    let (status, healthz) = health(&h, "/healthz");
    assert_eq!(status, 200);
    assert_health_shape(&healthz);
    assert_eq!(
        healthz["checks"],
        json!([{"name": "database", "status": "healthy"}])
    );
    // Only GET (and HEAD) are answered.
    let r = h.post("/readyz", b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn readyz_names_each_unreachable_backend() {
    let (pg_port, redis_port) = (closed_port(), closed_port());
    let manifest = guest_manifest(
        "readiness",
        "",
        &[("/a/...", "probe"), ("/b/...", "other")],
        &[
            (
                "probe",
                "key_value_stores = [\"default\", \"cache\"]\nsqlite_databases = [\"default\", \"main\"]",
            ),
            ("other", "sqlite_databases = [\"main\"]"),
        ],
    );
    let rc = format!(
        "[sqlite_database.main]\ntype = \"postgres\"\nurl = \"postgres://keyward@127.0.0.1:{pg_port}/keyward\"\n\
         [key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{redis_port}/\"\n"
    );
    // The host starts although both are down.
    let h = HostBuilder::new(manifest).runtime_config(&rc).start();
    let started = Instant::now();
    let (status, ready) = health(&h, "/readyz");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readiness must not hang"
    );
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "unhealthy");
    assert_health_shape(&ready);
    assert_eq!(
        ready["checks"],
        json!([
            {"name": "key_value_store.cache", "status": "unhealthy"},
            {"name": "key_value_store.default", "status": "healthy"},
            {"name": "sqlite_database.default", "status": "healthy"},
            {"name": "sqlite_database.main", "status": "unhealthy"},
        ])
    );
    // The body names checks only; why they failed is in the log.
    assert!(!ready.to_string().contains(&pg_port.to_string()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.log_lines().iter().any(|l| {
        l.contains("readiness checks failed")
            && l.contains("sqlite_database.main: ")
            && l.contains("key_value_store.cache: ")
    }) {
        assert!(Instant::now() < deadline, "{:#?}", h.log_lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Alive all the same.
    let (status, live) = health(&h, "/livez");
    assert_eq!((status, live["status"].as_str()), (200, Some("healthy")));
}

#[test]
fn the_reserved_paths_are_the_hosts_and_spin_toml_routes_none_of_them() {
    // A manifest whose wildcard would cover them: the host answers, and says so at start.
    let h = HostBuilder::new(guest_manifest(
        "all",
        "",
        &[("/...", "probe")],
        &[("probe", "")],
    ))
    .start();
    for path in ["/livez", "/readyz"] {
        let (status, body) = health(&h, path);
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("healthy")),
            "{path}"
        );
        assert!(
            h.log_line(|l| l.contains(&format!("matches {path}, which the host answers itself")))
                .is_some(),
            "{path}"
        );
    }
    assert_eq!(h.get("/echo").status, 200); // everything else is still routed

    // The product routes none of them, so nothing of keyward's is shadowed.
    let manifest: toml::Value = toml::from_str(&keyward_e2e::product_manifest()).unwrap();
    for trigger in manifest["trigger"]["http"].as_array().unwrap() {
        let route = trigger["route"].as_str().unwrap_or_default();
        let prefix = route.strip_suffix("/...");
        for reserved in ["/livez", "/readyz"] {
            assert_ne!(route, reserved);
            assert!(
                prefix.is_none_or(|p| !format!("{reserved}/").starts_with(&format!("{p}/"))),
                "{route} covers {reserved}"
            );
        }
    }
}

/// The access line of the request to `path` whose id is `id`.
fn access_line(h: &Host, path: &str, id: &str) -> Option<String> {
    h.log_line(|l| {
        l.contains(&format!("path={path} "))
            && l.split_whitespace()
                .any(|field| field == format!("request_id=\"{id}\""))
    })
}

fn is_fresh_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn the_request_id_reaches_the_guest_and_the_access_log() {
    // shield echoes the x-request-id it receives: what it answers is what the host passed it.
    let h = keyward_e2e::shield::builder().start();
    for sent in [
        "obs-req-42",
        "0190a6f2-7c1e-7d3a-9b2c-5e4f3a2b1c0d",
        "a:b+c/d=e@f",
    ] {
        let r = h.req("GET", "/storage-methods", &[("X-Request-ID", sent)], None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-request-id"), Some(sent));
        assert!(
            access_line(&h, "/storage-methods", sent).is_some(),
            "{sent} not logged"
        );
    }
    let long = "r".repeat(129);
    let replaced: [(&str, &[(&str, &str)]); 4] = [
        ("with a space", &[("X-Request-ID", "bad id")]),
        ("a quote", &[("X-Request-ID", "bad\"id")]),
        ("129 bytes", &[("X-Request-ID", &long)]),
        ("absent", &[]),
    ];
    let mut seen = Vec::new();
    for (what, headers) in replaced {
        let r = h.req("GET", "/storage-methods", headers, None);
        let id = r.header("x-request-id").expect("an id").to_owned();
        assert!(is_fresh_id(&id), "{what}: {id}");
        // The host made it: the access log printed the same id the guest answered with.
        assert!(
            access_line(&h, "/storage-methods", &id).is_some(),
            "{what}: {id}"
        );
        assert!(!seen.contains(&id));
        seen.push(id);
    }
    // Requests the host answers itself get an id too.
    h.get("/nowhere");
    h.get("/livez");
    for path in ["/nowhere", "/livez"] {
        let line = h
            .log_line(|l| l.contains(&format!("path={path} ")))
            .unwrap_or_else(|| panic!("no access line for {path}"));
        let id = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("request_id=\""))
            .and_then(|id| id.strip_suffix('"'))
            .unwrap_or_default();
        assert!(is_fresh_id(id), "{line}");
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

/// The `traceparent` an outbound call carried, as (trace id, parent id, flags).
fn outbound_trace(r: &keyward_e2e::StubRequest) -> Option<(String, String, String)> {
    let v = r.header("traceparent")?;
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "{v}");
    Some((parts[1].into(), parts[2].into(), parts[3].into()))
}

#[test]
fn without_an_endpoint_an_incoming_trace_still_reaches_outbound_calls() {
    let idp = Stub::start(|_| (200, "text/plain", b"idp".to_vec()));
    let h = HostBuilder::new(probe_manifest()).start();
    let call = |headers: &[(&str, &str)]| {
        let url = format!("/a/outbound?url=http://127.0.0.1:{}/x", idp.port);
        let r = h.req("GET", &url, headers, None);
        assert_eq!(r.json()["ok"]["status"], 200, "{}", r.text());
    };
    let sent = traceparent();
    call(&[("traceparent", &sent)]);
    call(&[]);
    call(&[("traceparent", &sent.to_uppercase())]); // malformed: ignored, not an error
    let seen = idp.requests();
    assert_eq!(seen.len(), 3);
    let (trace, parent, flags) = outbound_trace(&seen[0]).expect("the trace went on");
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE_ID, "01"));
    assert!(parent.len() == 16 && parent != PARENT_ID && parent != "0".repeat(16));
    // No trace came in and none is exported: none is started.
    assert_eq!(seen[1].header("traceparent"), None);
    assert_eq!(seen[2].header("traceparent"), None);
}

mod otlp {
    pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    pub use opentelemetry_proto::tonic::common::v1::any_value::Value;
    pub use opentelemetry_proto::tonic::trace::v1::Span;
    pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &otlp::Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).map(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(otlp::Value::StringValue(s)) => s.clone(),
            Some(otlp::Value::IntValue(i)) => i.to_string(),
            other => format!("{other:?}"),
        }
    })
}

/// Every span the receiver got so far.
fn received_spans(receiver: &Stub) -> Vec<otlp::Span> {
    use prost::Message;
    receiver
        .requests()
        .iter()
        .inspect(|r| {
            assert_eq!(
                (r.method.as_str(), r.target.as_str()),
                ("POST", "/v1/traces")
            );
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        })
        .flat_map(|r| {
            otlp::ExportTraceServiceRequest::decode(r.body.as_slice())
                .expect("an OTLP trace export")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

#[test]
fn spans_reach_an_otlp_receiver_and_outbound_calls_carry_the_trace() {
    let receiver = Stub::start(|_| (200, "application/x-protobuf", Vec::new()));
    let idp = Stub::start(|_| (200, "text/plain", b"idp".to_vec()));
    let h = HostBuilder::new(probe_manifest())
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &format!("http://127.0.0.1:{}", receiver.port),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start();
    let outbound = format!("/a/outbound?url=http://127.0.0.1:{}/x", idp.port);
    let sent = traceparent();
    // A: with a trace, calling the identity provider.
    let r = h.req(
        "GET",
        &outbound,
        &[("traceparent", &sent), ("x-request-id", "trace-a")],
        None,
    );
    assert_eq!(r.json()["ok"]["status"], 200, "{}", r.text());
    // B: no trace, a storage call.
    let sql = json!({"sql": "SELECT 1", "params": []}).to_string();
    let r = h.req(
        "POST",
        "/a/sql/default",
        &[("x-request-id", "trace-b")],
        Some(sql.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // C: a malformed trace (uppercase hex), calling the identity provider.
    let r = h.req(
        "GET",
        &outbound,
        &[
            ("traceparent", &sent.to_uppercase()),
            ("x-request-id", "trace-c"),
        ],
        None,
    );
    assert_eq!(r.json()["ok"]["status"], 200, "{}", r.text());

    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = received_spans(&receiver);
        let requests = spans.iter().filter(|s| s.name == "request").count();
        // 3 requests, 3 instantiations, 2 outbound calls, 1 storage call.
        const EXPECTED: usize = 9;
        if requests >= 3 && spans.len() >= EXPECTED {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans received: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let request = |id: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "request" && attribute(s, "keyward.request_id").as_deref() == Some(id)
            })
            .unwrap_or_else(|| panic!("no request span for {id}"))
    };
    let children = |parent: &otlp::Span, name: &str| -> Vec<&otlp::Span> {
        spans
            .iter()
            .filter(|s| {
                s.name == name
                    && s.trace_id == parent.trace_id
                    && s.parent_span_id == parent.span_id
            })
            .collect()
    };
    let calls = idp.requests();
    assert_eq!(calls.len(), 2);

    // A continues the caller's trace; its instantiation and its outbound call are its children,
    // and the identity provider got the outbound span as its parent.
    let a = request("trace-a");
    assert_eq!(hex_of(&a.trace_id), TRACE_ID);
    assert_eq!(hex_of(&a.parent_span_id), PARENT_ID);
    assert_eq!(a.kind, otlp::SpanKind::Server as i32);
    assert_eq!(attribute(a, "http.route").as_deref(), Some("/a/..."));
    assert_eq!(attribute(a, "keyward.component").as_deref(), Some("probe"));
    assert_eq!(
        attribute(a, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(children(a, "instantiate").len(), 1);
    let out = children(a, "outbound");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, otlp::SpanKind::Client as i32);
    let expected_host = format!("127.0.0.1:{}", idp.port);
    assert_eq!(attribute(out[0], "server.address"), Some(expected_host));
    assert_eq!(
        outbound_trace(&calls[0]),
        Some((TRACE_ID.into(), hex_of(&out[0].span_id), "01".into()))
    );

    // B starts a trace of its own; its storage call is a child span.
    let b = request("trace-b");
    assert_ne!(hex_of(&b.trace_id), TRACE_ID);
    assert!(b.parent_span_id.is_empty());
    let storage = children(b, "storage");
    assert_eq!(storage.len(), 1);
    let system = match default_backends().0 {
        "postgres" => "postgresql",
        other => other,
    };
    assert_eq!(
        attribute(storage[0], "db.system.name").as_deref(),
        Some(system)
    );
    assert_eq!(
        attribute(storage[0], "db.operation.name").as_deref(),
        Some("execute")
    );
    assert_eq!(children(b, "instantiate").len(), 1);

    // C's malformed header was ignored: a new trace, which its outbound call carries.
    let c = request("trace-c");
    assert_ne!(hex_of(&c.trace_id), TRACE_ID);
    assert!(c.parent_span_id.is_empty());
    let c_out = children(c, "outbound");
    assert_eq!(c_out.len(), 1);
    assert_eq!(
        outbound_trace(&calls[1]),
        Some((hex_of(&c.trace_id), hex_of(&c_out[0].span_id), "01".into()))
    );

    // No span names a path or a query (the outbound URL was in A's and C's query).
    for s in &spans {
        for kv in &s.attributes {
            let v = format!("{:?}", kv.value);
            assert!(
                !v.contains("url=") && !v.contains("/x"),
                "{}: {}={v}",
                s.name,
                kv.key
            );
        }
    }
}
