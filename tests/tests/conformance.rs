//! Host conformance: every Spin semantic the keyward host promises (docs/platform.md, "Design: host conformance"), asserted
//! over real HTTP against a running host with the test-only conformance guest.

use keyward_e2e::{Host, HostBuilder, Stub, guest_manifest, json};

/// One wasm, mounted as several components with different grants.
fn manifest(outbound_port: u16) -> String {
    let variables = format!(
        r#"
[variables]
plain = {{ default = "from-default" }}
from_env = {{ default = "manifest-default" }}
from_provider = {{ default = "manifest-default" }}
required_one = {{ required = true, secret = true }}
unset_optional = {{ description = "declared without a value" }}
outbound_port = {{ default = "{outbound_port}" }}
"#
    );
    guest_manifest(
        "conformance",
        &variables,
        &[
            ("/a/...", "a"),
            ("/a/deeper/...", "b"),
            ("/a/exact/echo", "b"),
            ("/b/...", "b"),
            ("/p/:id/...", "b"),
            ("/q/:path_segment/...", "b"),
            ("{ private = true }", "hidden"),
        ],
        &[
            (
                "a",
                r#"key_value_stores = ["default", "alpha"]
sqlite_databases = ["default", "alpha"]
allowed_outbound_hosts = ["http://127.0.0.1:{{ outbound_port }}"]
[component.a.variables]
plain = "{{ plain }}"
combo = "x-{{ plain }}-y"
from_env = "{{ from_env }}"
from_provider = "{{ from_provider }}"
required_one = "{{ required_one }}"
unset_optional = "{{ unset_optional }}""#,
            ),
            (
                "b",
                r#"key_value_stores = ["beta"]
sqlite_databases = ["beta"]"#,
            ),
            ("hidden", ""),
        ],
    )
}

fn host_with(port: u16, f: impl FnOnce(HostBuilder) -> HostBuilder) -> Host {
    f(HostBuilder::new(manifest(port)).env("SPIN_VARIABLE_REQUIRED_ONE", "req-value")).start()
}

fn host() -> Host {
    host_with(1, |b| b)
}

#[test]
fn key_value_semantics() {
    let h = host();
    // A missing key is ok(none); delete of a missing key is ok.
    assert_eq!(h.get("/a/kv/default/missing").json(), json!({"ok": null}));
    assert_eq!(
        h.delete("/a/kv/default/missing").json(),
        json!({"ok": "ok"})
    );
    assert_eq!(h.get("/a/kv-exists/default/k").json(), json!({"ok": false}));
    assert_eq!(h.put("/a/kv/default/k", b"v1").json(), json!({"ok": "ok"}));
    assert_eq!(h.put("/a/kv/default/k", b"v2").json(), json!({"ok": "ok"}));
    assert_eq!(h.get("/a/kv/default/k").json(), json!({"ok": "v2"}));
    assert_eq!(h.get("/a/kv-exists/default/k").json(), json!({"ok": true}));
    // Labels are isolated: the same key in another store is independent, get-keys stays in its label.
    assert_eq!(h.put("/a/kv/alpha/k", b"alpha").json(), json!({"ok": "ok"}));
    assert_eq!(h.put("/a/kv/alpha/other", b"x").json(), json!({"ok": "ok"}));
    assert_eq!(h.get("/a/kv/default/k").json(), json!({"ok": "v2"}));
    assert_eq!(h.get("/a/kv-keys/default").json(), json!({"ok": ["k"]}));
    assert_eq!(
        h.get("/a/kv-keys/alpha").json(),
        json!({"ok": ["k", "other"]})
    );
    assert_eq!(h.delete("/a/kv/default/k").json(), json!({"ok": "ok"}));
    assert_eq!(h.get("/a/kv/default/k").json(), json!({"ok": null}));
    assert_eq!(h.get("/a/kv/alpha/k").json(), json!({"ok": "alpha"}));
}

#[test]
fn key_value_access_is_checked_at_open() {
    let h = host();
    // `beta` exists (component b uses it) but a was not granted it; `nowhere` exists nowhere.
    assert_eq!(h.put("/b/kv/beta/k", b"secret").json(), json!({"ok": "ok"}));
    assert_eq!(
        h.get("/a/kv/beta/k").json(),
        json!({"error": "access-denied"})
    );
    assert_eq!(
        h.get("/a/kv/nowhere/k").json(),
        json!({"error": "access-denied"})
    );
    // b was not granted `default`: even `default` is denied to it.
    assert_eq!(
        h.get("/b/kv/default/k").json(),
        json!({"error": "access-denied"})
    );
}

fn sql(
    h: &Host,
    component: &str,
    label: &str,
    statement: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let body = json!({"sql": statement, "params": params}).to_string();
    let r = h.post(&format!("/{component}/sql/{label}"), body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn sqlite_types_round_trip() {
    let h = host();
    let r = sql(
        &h,
        "a",
        "default",
        "CREATE TABLE t (id BIGINT, i BIGINT, r DOUBLE PRECISION, s TEXT, b BYTEA, n TEXT)",
        json!([]),
    );
    assert_eq!(r, json!({"ok": {"columns": [], "rows": []}}));
    // Portable DDL (docs/platform.md, "Design: portable SQL"): BIGINT, DOUBLE PRECISION, TEXT and BYTEA mean the same on
    // SQLite and PostgreSQL, so this test runs unchanged on both backends.
    for (id, (i, real, text)) in [
        (i64::MAX, 1.5, "plain"),
        (i64::MIN, -0.25, "unicode åäö €"),
        (0, 1e300, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let id = id as i64;
        let r = sql(
            &h,
            "a",
            "default",
            "INSERT INTO t (id, i, r, s, b, n) VALUES (?, ?, ?, ?, ?, ?)",
            json!([{"integer": id}, {"integer": i}, {"real": real}, {"text": text}, {"blob": [0, 255, 10]}, {"null": null}]),
        );
        assert!(r.get("ok").is_some(), "{r}");
    }
    let r = sql(
        &h,
        "a",
        "default",
        "SELECT i, r, s, b, n FROM t ORDER BY id",
        json!([]),
    );
    assert_eq!(
        r,
        json!({"ok": {"columns": ["i", "r", "s", "b", "n"], "rows": [
            [{"integer": i64::MAX}, {"real": 1.5}, {"text": "plain"}, {"blob": [0, 255, 10]}, {"null": null}],
            [{"integer": i64::MIN}, {"real": -0.25}, {"text": "unicode åäö €"}, {"blob": [0, 255, 10]}, {"null": null}],
            [{"integer": 0}, {"real": 1e300}, {"text": ""}, {"blob": [0, 255, 10]}, {"null": null}],
        ]}})
    );
    // Placeholders bind by position; RETURNING gives rows back from a write.
    let r = sql(
        &h,
        "a",
        "default",
        "DELETE FROM t WHERE i = ? RETURNING s",
        json!([{"integer": 0}]),
    );
    assert_eq!(
        r,
        json!({"ok": {"columns": ["s"], "rows": [[{"text": ""}]]}})
    );
    // An SQL error is the interface's io error, not a trap.
    let r = sql(&h, "a", "default", "SELECT * FROM no_such_table", json!([]));
    assert_eq!(r["error"], "io", "{r}");
    // Databases are separate files: alpha does not see default's table.
    let r = sql(&h, "a", "alpha", "SELECT * FROM t", json!([]));
    assert_eq!(r["error"], "io", "{r}");
}

fn sql_steps(h: &Host, label: &str, steps: serde_json::Value) -> Vec<serde_json::Value> {
    let r = h.post(
        &format!("/a/sql-steps/{label}"),
        steps.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json() {
        serde_json::Value::Array(answers) => answers,
        other => panic!("{other}"),
    }
}

const PROBED: &str = "SELECT 1 FROM probed WHERE 1 = 0";

/// The host answers a schema probe (`SELECT 1 FROM <marker> WHERE 1 = 0`) from memory once the
/// table is committed, and forgets when a table may have gone (docs/platform.md, "Design: schema
/// probes"): never a table that exists only in a rolled-back transaction, never one dropped
/// through the host, not even one dropped by a transaction while another request re-learned it.
#[test]
fn schema_probes_are_answered_from_memory_and_follow_the_tables() {
    let h = host();
    let probe = |h: &Host| sql(h, "a", "alpha", PROBED, json!([]));
    let create_and_probe = |h: &Host| {
        let created = sql(h, "a", "alpha", "CREATE TABLE probed (v BIGINT)", json!([]));
        assert!(created.get("ok").is_some(), "{created}");
        assert!(
            probe(h).get("ok").is_some(),
            "a committed table's probe is answered"
        );
    };
    assert_eq!(probe(&h)["error"], "io", "no table yet");

    // Created and probed inside a transaction that rolls back: nothing learned.
    let answers = sql_steps(
        &h,
        "alpha",
        json!([
            {"sql": "BEGIN"},
            {"sql": "CREATE TABLE probed (v BIGINT)"},
            {"sql": PROBED},
            {"sql": "ROLLBACK"},
        ]),
    );
    assert!(answers[2].get("ok").is_some(), "{answers:?}");
    assert_eq!(
        probe(&h)["error"],
        "io",
        "a rolled-back table is not remembered"
    );

    // Committed and probed: remembered. Dropped behind the host's back (not through it), the
    // probe is still answered, which is how this test sees the memory at work.
    create_and_probe(&h);
    let mut outside = keyward_e2e::db::ServiceDb::open(&h.state_dir, "alpha");
    outside.execute("DROP TABLE probed", &[]);
    assert_eq!(
        probe(&h),
        json!({"ok": {"columns": probe_columns(), "rows": []}}),
        "answered from memory"
    );
    outside.execute("CREATE TABLE probed (v BIGINT)", &[]);

    // Dropped through the host: forgotten at once.
    assert!(probe(&h).get("ok").is_some());
    assert!(
        sql(&h, "a", "alpha", "DROP TABLE probed", json!([]))
            .get("ok")
            .is_some()
    );
    assert_eq!(probe(&h)["error"], "io", "a dropped table is forgotten");

    // Dropped inside a transaction while another request probes (and, on the embedded backend,
    // re-learns the still-committed table): forgotten again when the transaction commits.
    create_and_probe(&h);
    let (during, answers) = probe_during(
        &h,
        &[(
            0,
            json!([
                {"sql": "BEGIN"},
                {"sql": "DROP TABLE probed"},
                {"sleep_ms": 600},
                {"sql": "COMMIT"},
            ]),
        )],
    );
    assert!(answers[0][3].get("ok").is_some(), "{answers:?}");
    // Embedded: the table was still committed. PostgreSQL: the probe waited for the drop.
    assert!(during.get(still_there()).is_some(), "{during}");
    assert_eq!(
        probe(&h)["error"],
        "io",
        "a table dropped by a committed transaction is forgotten"
    );

    // Dropped by a statement outside a transaction that must wait for another writer (as a
    // write waits for its batch to commit), while a probe re-learns the still-committed table:
    // forgotten again once the drop has committed.
    create_and_probe(&h);
    assert!(
        sql(&h, "a", "alpha", "CREATE TABLE other (v BIGINT)", json!([]))
            .get("ok")
            .is_some()
    );
    let (during, answers) = probe_during(
        &h,
        &[
            (
                0,
                json!([
                    {"sql": "BEGIN"},
                    {"sql": "INSERT INTO other (v) VALUES (1)"},
                    {"sleep_ms": 600},
                    {"sql": "COMMIT"},
                ]),
            ),
            (100, json!([{"sql": "DROP TABLE probed"}])),
        ],
    );
    assert!(answers[1][0].get("ok").is_some(), "{answers:?}");
    // Embedded: the drop waited for the writer. PostgreSQL: other tables do not hold it back.
    assert!(during.get(still_there()).is_some(), "{during}");
    assert_eq!(
        probe(&h)["error"],
        "io",
        "a table dropped outside a transaction is forgotten once the drop commits"
    );
}

/// Sends each `(delay in ms, steps)` as one `sql-steps` request after its delay, probes at
/// 300 ms, and returns the probe's answer and every request's answers once all have ended.
fn probe_during(
    h: &Host,
    requests: &[(u64, serde_json::Value)],
) -> (serde_json::Value, Vec<Vec<serde_json::Value>>) {
    std::thread::scope(|scope| {
        let running: Vec<_> = requests
            .iter()
            .map(|(delay, steps)| {
                scope.spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(*delay));
                    sql_steps(h, "alpha", steps.clone())
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let during = sql(h, "a", "alpha", PROBED, json!([]));
        let answers = running
            .into_iter()
            .map(|r| r.join().expect("request thread"))
            .collect();
        (during, answers)
    })
}

/// What a probe sees while a drop is pending: the embedded backend still shows the committed
/// table; PostgreSQL makes the probe wait for the drop (or does not hold the drop back).
fn still_there() -> &'static str {
    match keyward_e2e::Backend::from_env() {
        keyward_e2e::Backend::Embedded => "ok",
        _ => "error",
    }
}

/// The column a probe's `SELECT 1` answers under, as each backend names it.
fn probe_columns() -> serde_json::Value {
    match keyward_e2e::Backend::from_env() {
        keyward_e2e::Backend::Embedded => json!(["1"]),
        _ => json!(["?column?"]),
    }
}

/// Concurrent read-modify-write transactions on one embedded file are serial, whether their
/// writers share a commit or not (docs/platform.md, "Design: group commit"): 24 guests each read
/// a counter, wait, and write it plus one; the 16 that commit leave 16, each having read a
/// different value, and the 8 that roll back leave nothing. (On PostgreSQL, `BEGIN` is
/// PostgreSQL's READ COMMITTED, which does not promise this.)
#[test]
fn concurrent_read_modify_write_transactions_are_serial() {
    if keyward_e2e::Backend::from_env() != keyward_e2e::Backend::Embedded {
        return;
    }
    for group_commit in ["true", "false"] {
        let h = host_with(1, |b| b.arg("--sqlite-group-commit").arg(group_commit));
        let answers = keyward_e2e::race(24, |i| {
            let keep = i % 3 != 0;
            let path = format!("/a/increment/default?ms=20&keep={}", u8::from(keep));
            (keep, h.post(&path, b"").json())
        });
        let mut read: Vec<i64> = answers
            .iter()
            .filter(|(keep, _)| *keep)
            .map(|(_, a)| a["read"].as_i64().unwrap_or_else(|| panic!("{a}")))
            .collect();
        read.sort_unstable();
        assert_eq!(
            read,
            (0..16).collect::<Vec<_>>(),
            "group commit {group_commit}"
        );
        for (_, a) in answers.iter().filter(|(keep, _)| !*keep) {
            assert!(a["read"].is_i64(), "{a}");
        }
        let counter = sql(&h, "a", "default", "SELECT n FROM counter", json!([]));
        assert_eq!(
            counter["ok"]["rows"],
            json!([[{"integer": 16}]]),
            "group commit {group_commit}"
        );
    }
}

#[test]
fn sqlite_access_is_checked_at_open() {
    let h = host();
    assert!(
        sql(&h, "b", "beta", "CREATE TABLE x (v TEXT)", json!([]))
            .get("ok")
            .is_some()
    );
    assert_eq!(
        sql(&h, "a", "beta", "SELECT 1", json!([])),
        json!({"error": "access-denied"})
    );
    assert_eq!(
        sql(&h, "a", "nowhere", "SELECT 1", json!([])),
        json!({"error": "access-denied"})
    );
    assert_eq!(
        sql(&h, "b", "default", "SELECT 1", json!([])),
        json!({"error": "access-denied"})
    );
}

#[test]
fn variables_resolve_in_spin_order() {
    let h = host_with(1, |b| {
        b.env("SPIN_VARIABLE_FROM_ENV", "env-value")
            .env("SPIN_VARIABLE_FROM_PROVIDER", "env-loses")
            .runtime_config(
                "[[variables_provider]]\ntype = \"static\"\nvalues = { from_provider = \"provider-value\" }\n",
            )
    });
    let var = |n: &str| h.get(&format!("/a/var/{n}")).json();
    assert_eq!(var("plain"), json!({"ok": "from-default"}));
    assert_eq!(var("combo"), json!({"ok": "x-from-default-y"}));
    assert_eq!(var("from_env"), json!({"ok": "env-value"}));
    assert_eq!(var("from_provider"), json!({"ok": "provider-value"}));
    assert_eq!(var("required_one"), json!({"ok": "req-value"}));
    assert_eq!(var("unset_optional")["error"], "undefined");
    assert_eq!(var("not_declared")["error"], "undefined");
    assert_eq!(var("Bad")["error"], "invalid-name");
    assert_eq!(var("a__b")["error"], "invalid-name");
    // b declares no variables: a's are not visible to it.
    assert_eq!(h.get("/b/var/plain").json()["error"], "undefined");
}

#[test]
fn env_provider_with_prefix() {
    let h = host_with(1, |b| {
        b.env("KW_FROM_PROVIDER", "prefixed")
            .runtime_config("[[variables_provider]]\ntype = \"env\"\nprefix = \"KW\"\n")
    });
    assert_eq!(
        h.get("/a/var/from_provider").json(),
        json!({"ok": "prefixed"})
    );
}

#[test]
fn missing_required_variable_fails_the_start() {
    let err = HostBuilder::new(manifest(1)).start_refused("without a required variable");
    assert!(err.contains("required variable `required_one`"), "{err}");
}

#[test]
fn outbound_http_only_to_allowed_hosts() {
    let allowed = Stub::start(|_| (200, "text/plain", b"hello from stub".to_vec()));
    let other = Stub::start(|_| (200, "text/plain", b"must not be reached".to_vec()));
    let h = host_with(allowed.port, |b| b);
    let r = h
        .get(&format!(
            "/a/outbound?url=http://127.0.0.1:{}/x",
            allowed.port
        ))
        .json();
    assert_eq!(r, json!({"ok": {"status": 200, "body": "hello from stub"}}));
    // Another port, another scheme, and a component with no allowed hosts at all are denied.
    for url in [
        format!("/a/outbound?url=http://127.0.0.1:{}/x", other.port),
        format!("/a/outbound?url=https://127.0.0.1:{}/x", allowed.port),
        format!("/b/outbound?url=http://127.0.0.1:{}/x", allowed.port),
    ] {
        let r = h.get(&url).json();
        assert!(
            r["error"]
                .as_str()
                .unwrap_or_default()
                .contains("HttpRequestDenied"),
            "{url}: {r}"
        );
    }
    assert_eq!(allowed.requests().len(), 1);
    assert!(other.requests().is_empty());
}

#[test]
fn routing_precedence_and_spin_headers() {
    let h = host();
    let echo = |path: &str, headers: &[(&str, &str)]| {
        let r = h.req("GET", path, headers, None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    };
    let base = h.base.clone();
    let host_port = base.trim_start_matches("http://").to_string();

    let r = echo(
        "/a/echo?q=1&x=%20y",
        &[
            ("spin-client-addr", "6.6.6.6:1"),
            ("spin-path-info", "/forged"),
        ],
    );
    assert_eq!(
        r["uri"],
        format!("{base}/a/echo?q=1&x=%20y"),
        "the guest gets an absolute URI"
    );
    let hd = &r["headers"];
    assert_eq!(hd["spin-full-url"], format!("{base}/a/echo?q=1&x=%20y"));
    assert_eq!(hd["spin-path-info"], "/echo");
    assert_eq!(hd["spin-matched-route"], "/a/...");
    assert_eq!(hd["spin-raw-component-route"], "/a/...");
    assert_eq!(hd["spin-component-route"], "/a");
    assert_eq!(hd["spin-base-path"], "/");
    let client = hd["spin-client-addr"].as_str().unwrap_or_default();
    assert!(
        client.starts_with("127.0.0.1:"),
        "client addr is the peer, not the forged header: {client}"
    );
    assert_ne!(host_port, client);
    assert!(
        hd.get("spin-path-match-id").is_none(),
        "client-sent spin-* headers are removed: {hd}"
    );

    // Longest prefix wins among wildcards; an exact route beats every wildcard.
    let r = echo("/a/deeper/echo", &[]);
    assert_eq!(r["headers"]["spin-matched-route"], "/a/deeper/...");
    assert_eq!(r["headers"]["spin-path-info"], "/echo");
    let r = echo("/a/exact/echo", &[]);
    assert_eq!(r["headers"]["spin-matched-route"], "/a/exact/echo");
    assert_eq!(r["headers"]["spin-path-info"], "");

    // Named segments are passed as spin-path-match-<name>.
    let r = echo("/p/42/echo", &[]);
    assert_eq!(r["headers"]["spin-path-match-id"], "42");
    assert_eq!(r["headers"]["spin-path-info"], "/echo");
    assert_eq!(r["headers"]["spin-matched-route"], "/p/:id/...");
    // As Spin names them: underscores in a parameter's name become hyphens.
    let r = echo("/q/seven/echo", &[]);
    assert_eq!(r["headers"]["spin-path-match-path-segment"], "seven");
    assert!(r["headers"].get("spin-path-match-path_segment").is_none());

    // Nothing matches: 404 JSON. A private component is never routable.
    let r = h.get("/nothing/here");
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn deadline_is_answered_with_504_and_the_host_keeps_serving() {
    let h = host_with(1, |b| b.arg("--request-timeout").arg("1"));
    let start = std::time::Instant::now();
    let r = h.get("/a/busy");
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.error_code(), "TIMEOUT");
    let answered = start.elapsed();
    assert!(answered < std::time::Duration::from_secs(20));
    assert_eq!(h.get("/a/var/plain").json(), json!({"ok": "from-default"}));
    keyward_e2e::record_fault(
        "guest-loop",
        "a guest that loops forever (request timeout 1 s)",
        1,
        "`504 TIMEOUT`",
        &format!(
            "stopped, answered after {:.1} s; host served",
            answered.as_secs_f64()
        ),
    );
}

#[test]
fn memory_cap_is_answered_with_500_and_the_host_keeps_serving() {
    let h = host_with(1, |b| b.arg("--memory-limit").arg("32"));
    let r = h.get("/a/alloc?mib=8");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = h.get("/a/alloc?mib=64");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.error_code(), "INTERNAL");
    let r = h.get("/a/alloc?mib=8");
    assert_eq!(r.status, 200, "{}", r.text());
    keyward_e2e::record_fault(
        "guest-alloc",
        "a guest allocating 64 MiB past a 32 MiB memory limit",
        1,
        "`500 INTERNAL`",
        "cut off at its limit; the next request served",
    );
}

/// A guest that floods stdout and stderr (64 MiB each) is answered normally, its output reaches
/// the host's log only up to the per-request budget (docs/OPERATIONS.md, "Guest output"), and
/// the next request gets a budget of its own.
#[test]
fn a_guest_flooding_its_output_is_cut_off_and_the_host_stays_healthy() {
    let h = host();
    let log_bytes = |h: &Host| h.log_lines().iter().map(|l| l.len() + 1).sum::<usize>();
    let before = log_bytes(&h);
    let r = h.get("/a/flood?mib=64");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["written"], 128 * 1024 * 1024);
    assert!(
        h.log_line(|l| l.contains("cut after")).is_some(),
        "no line says the output was cut"
    );
    let first = log_bytes(&h) - before;
    assert!(
        (64 * 1024..256 * 1024).contains(&first),
        "the host logged {first} bytes of a 128 MiB flood"
    );
    // A later request prints again, within its own budget.
    assert_eq!(h.get("/a/flood?mib=1").status, 200);
    // Its lines are read from the host's stderr by another thread: wait for them.
    let printed_again = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        log_bytes(&h) - before - first >= 64 * 1024
    });
    assert!(printed_again, "the second request's output never arrived");
    assert_eq!(h.get("/a/var/plain").status, 200);
    keyward_e2e::record_fault(
        "guest-flood",
        "a guest printing 64 MiB to stdout and 64 MiB to stderr",
        1,
        "`200`",
        &format!(
            "{} KiB reached the host's log, then one line saying it was cut; host served",
            first / 1024
        ),
    );
}

#[test]
fn a_trap_is_a_500_json_and_not_fatal() {
    let h = host();
    let r = h.get("/a/trap");
    assert_eq!(r.status, 500);
    assert_eq!(r.error_code(), "INTERNAL");
    assert_eq!(h.get("/a/var/plain").status, 200);
}

#[test]
fn data_and_compiled_components_persist_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let cache = state.path().join("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let mut h = host_with(1, |b| {
        b.state_dir(state.path()).arg("--cache-dir").arg(&cache_arg)
    });
    assert_eq!(
        h.put("/a/kv/alpha/durable", b"kept").json(),
        json!({"ok": "ok"})
    );
    sql(&h, "a", "alpha", "CREATE TABLE d (v TEXT)", json!([]));
    sql(
        &h,
        "a",
        "alpha",
        "INSERT INTO d (v) VALUES (?)",
        json!([{"text": "row"}]),
    );
    h.kill();
    let cached: Vec<_> = std::fs::read_dir(state.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one compiled component for one wasm: {cached:?}"
    );
    let mtime = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();

    let h = host_with(1, |b| {
        b.state_dir(state.path()).arg("--cache-dir").arg(&cache_arg)
    });
    assert_eq!(h.get("/a/kv/alpha/durable").json(), json!({"ok": "kept"}));
    assert_eq!(
        sql(&h, "a", "alpha", "SELECT v FROM d", json!([])),
        json!({"ok": {"columns": ["v"], "rows": [[{"text": "row"}]]}})
    );
    // The restart loaded the compiled component instead of compiling it again.
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        mtime
    );
}

#[test]
fn one_log_line_per_request_without_secrets() {
    let h = host();
    h.req(
        "GET",
        "/a/var/plain?token=querysecret",
        &[("authorization", "Bearer s3cr3t-value")],
        None,
    );
    h.get("/nothing");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = h.log_lines();
    let access: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("request") && l.contains("status"))
        .collect();
    assert_eq!(access.len(), 2, "{log:#?}");
    assert!(
        access[0].contains("/a/var/plain")
            && access[0].contains("200")
            && access[0].contains("/a/..."),
        "{}",
        access[0]
    );
    assert!(
        access[1].contains("/nothing") && access[1].contains("404"),
        "{}",
        access[1]
    );
    let all = log.join("\n");
    assert!(
        !all.contains("s3cr3t-value") && !all.contains("querysecret"),
        "{all}"
    );
    // Written to a pipe, not a terminal: plain text, no colour codes.
    assert!(!all.contains('\u{1b}'), "{all}");
}

#[test]
fn json_log_format() {
    let h = host_with(1, |b| b.arg("--log-format").arg("json"));
    h.get("/a/var/plain");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| l.contains("\"status\""))
        .expect("an access line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("the access line is JSON");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/a/var/plain");
    assert_eq!(v["route"], "/a/...");
    assert_eq!(v["component"], "a");
    assert_eq!(v["status"], 200);
    assert!(v["duration_ms"].is_number());
    // The routed request made an instance; how long that took is logged (a 404 would log 0).
    assert!(
        v["instantiate_us"].as_f64().is_some_and(|us| us > 0.0),
        "{line}"
    );
}

#[test]
fn unsupported_manifest_fields_fail_the_start_clearly() {
    let bad = manifest(1).replace(
        "[component.hidden]",
        "[component.hidden]\nfiles = [\"secret.txt\"]",
    );
    let err = HostBuilder::new(bad)
        .env("SPIN_VARIABLE_REQUIRED_ONE", "x")
        .start_refused("with an unsupported field");
    assert!(err.contains("`files` is not supported"), "{err}");
    let err = HostBuilder::new(manifest(1))
        .env("SPIN_VARIABLE_REQUIRED_ONE", "x")
        .runtime_config("[key_value_store.alpha]\ntype = \"azure_cosmos\"\n")
        .start_refused("with an unsupported backend");
    // The refusal names the type and what is supported instead.
    assert!(
        err.contains("unknown variant `azure_cosmos`, expected `spin` or `redis`"),
        "{err}"
    );
}

#[test]
fn product_manifest_serves_healthz() {
    let h = HostBuilder::new(keyward_e2e::product_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", keyward_e2e::TEST_MASTER_KEY)
        .start();
    let r = h.get("/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "healthy");
    assert_eq!(
        v["checks"],
        json!([{"name": "database", "status": "healthy"}])
    );
    let at = v["at"].as_str().unwrap_or_default();
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = h.get("/no/such/route");
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
}

/// SIGTERM: the host stops accepting at once, lets every request in progress finish with its
/// real answer, then exits 0 within the drain deadline (docs/OPERATIONS.md, "Stopping").
#[test]
fn sigterm_drains_requests_in_flight_then_exits_0() {
    let mut h = host_with(1, |b| b.env("KEYWARD_DRAIN_TIMEOUT", "10"));
    let addr: std::net::SocketAddr = h.base.trim_start_matches("http://").parse().expect("addr");
    let url = h.url("/a/sleep?ms=1500");
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || keyward_e2e::try_request("GET", &url, &[], None))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let signalled = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &h.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a draining host must not accept new connections"
    );
    for t in in_flight {
        let r = t
            .join()
            .expect("client thread")
            .expect("an answer, not a dropped connection");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["slept_ms"], 1500);
    }
    let exit = loop {
        if let Some(status) = h.child.try_wait().expect("wait") {
            break status;
        }
        // The drain ends with the last request (the log says whether the deadline was hit);
        // the process's own teardown after it gets a margin on a loaded machine.
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(20),
            "still running 10 s after the drain deadline:\n{}",
            h.log_lines().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    let log = h.log_lines().join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(
        !log.contains("drain deadline passed"),
        "the requests in flight ended before the deadline, so the drain did too:\n{log}"
    );
}

/// One instance cannot hold resources or results without bound (docs/OPERATIONS.md, "Limits,
/// flags and defaults"): at most 256 open stores, and a query result of at most 32 MiB.
#[test]
fn open_stores_and_query_results_are_bounded() {
    let h = host();
    let r = h.get("/a/kv-hold/alpha?n=300").json();
    assert_eq!(r["opened"], 256, "{r}");
    assert_eq!(r["error"], json!({"error": "store-table-full"}), "{r}");
    assert_eq!(h.get("/a/kv-hold/alpha?n=10").json(), json!({"opened": 10}));

    // 40 rows of 1 MiB each.
    let one_mib = match keyward_e2e::Backend::from_env() {
        keyward_e2e::Backend::Embedded => "zeroblob(1048576)",
        _ => "decode(repeat('00', 1048576), 'hex')",
    };
    let statement = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40) SELECT {one_mib} FROM c"
    );
    let r = sql(&h, "a", "alpha", &statement, json!([]));
    assert_eq!(r["error"], "io", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("larger than 32 MiB")),
        "{r}"
    );
    // A result within the bound is whole.
    let r = sql(
        &h,
        "a",
        "alpha",
        &statement
            .replace("x < 40", "x < 4")
            .replace("1048576", "1024"),
        json!([]),
    );
    assert_eq!(r["ok"]["rows"].as_array().map(Vec::len), Some(4), "{r}");
}
