//! A test-only guest for the host conformance tests. Each route exercises one host interface and
//! reports exactly what the interface returned, so the tests can assert Spin's semantics over HTTP.
//!
//! Routes (relative to wherever the test manifest mounts the component):
//! - `GET  …/kv/<label>/<key>`, `PUT` (body = value), `DELETE`; `GET …/kv-exists/<label>/<key>`;
//!   `GET …/kv-keys/<label>`
//! - `POST …/sql/<label>` body `{"sql": "...", "params": [<value>...]}`, values as
//!   `{"integer": 1}`, `{"real": 1.5}`, `{"text": "x"}`, `{"blob": [1,2]}`, `{"null": null}`
//! - `POST …/sql-steps/<label>` body `[{"sql": "...", "params": [...]} | {"sleep_ms": n}, ...]`:
//!   the statements on one connection, in order (waiting where a step says so); answers the
//!   list of their results, each as `…/sql` answers
//! - `GET  …/var/<name>`
//! - `GET  …/outbound?url=<url>`
//! - `GET  …/echo` (spin-* headers, URI, method, body length)
//! - `GET  …/busy` (never returns), `GET …/alloc?mib=<n>`, `GET …/trap`
//! - `GET  …/sleep?ms=<n>` (answers after waiting n ms: a request that is slow but finishes)
//! - `POST …/increment/<label>?ms=<n>&keep=<0|1>`: one read-modify-write transaction on a
//!   counter (`BEGIN`, read, wait n ms, write the value read plus one, `COMMIT`, or `ROLLBACK`
//!   when keep=0); answers the value read, or the statement that failed
//! - `GET  …/kv-hold/<label>?n=<n>` (opens the store n times without closing: how many opened,
//!   and the error that stopped it)

use serde_json::{Value as Json, json};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::sqlite::{Connection, Error as SqlError, Value};

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path_info = header(&req, "spin-path-info");
    let mut segments: Vec<String> = path_info
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if segments.is_empty() {
        // Exact routes have no path info: dispatch on the path's last segment instead.
        segments = req.path().rsplit('/').take(1).map(String::from).collect();
    }
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(match (req.method(), segs.as_slice()) {
        (Method::Get, ["kv", label, key]) => {
            kv(label, |s| s.get(key).map(|v| json!(v.map(bytes_text))))
        }
        (Method::Put, ["kv", label, key]) => {
            kv(label, |s| s.set(key, req.body()).map(|()| json!("ok")))
        }
        (Method::Delete, ["kv", label, key]) => kv(label, |s| s.delete(key).map(|()| json!("ok"))),
        (Method::Get, ["kv-exists", label, key]) => kv(label, |s| s.exists(key).map(|b| json!(b))),
        (Method::Get, ["kv-keys", label]) => kv(label, |s| s.get_keys().map(|k| json!(k))),
        (Method::Post, ["sql", label]) => sql(label, req.body()),
        (Method::Post, ["sql-steps", label]) => sql_steps(label, req.body()),
        (Method::Post, ["increment", label]) => increment(label, &req),
        (Method::Get, ["var", name]) => variable(name),
        (Method::Get, ["outbound"]) => outbound(&req).await,
        (Method::Get, ["echo"]) => echo(&req),
        (Method::Get, ["busy"]) => busy(),
        (Method::Get, ["alloc"]) => alloc(&req),
        (Method::Get, ["trap"]) => trap(),
        (Method::Get, ["sleep"]) => sleep(&req),
        (Method::Get, ["flood"]) => flood(&req),
        (Method::Get, ["kv-hold", label]) => hold_stores(label, &req),
        _ => reply(404, json!({"error": "no such test route"})),
    })
}

fn header(req: &Request, name: &str) -> String {
    req.header(name)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

fn reply(status: u16, body: Json) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn bytes_text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn kv_error(e: KvError) -> Json {
    match e {
        KvError::AccessDenied => json!({"error": "access-denied"}),
        KvError::NoSuchStore => json!({"error": "no-such-store"}),
        KvError::StoreTableFull => json!({"error": "store-table-full"}),
        KvError::Other(m) => json!({"error": "other", "detail": m}),
    }
}

fn kv(label: &str, f: impl FnOnce(&Store) -> Result<Json, KvError>) -> Response {
    let result = Store::open(label).and_then(|s| f(&s));
    match result {
        Ok(v) => reply(200, json!({"ok": v})),
        Err(e) => reply(200, kv_error(e)),
    }
}

fn to_value(v: &Json) -> Option<Value> {
    let (kind, inner) = v.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "integer" => Value::Integer(inner.as_i64()?),
        "real" => Value::Real(inner.as_f64()?),
        "text" => Value::Text(inner.as_str()?.to_string()),
        "blob" => Value::Blob(
            inner
                .as_array()?
                .iter()
                .map(|b| b.as_u64().map(|b| b as u8))
                .collect::<Option<_>>()?,
        ),
        "null" => Value::Null,
        _ => return None,
    })
}

fn from_value(v: &Value) -> Json {
    match v {
        Value::Integer(i) => json!({"integer": i}),
        Value::Real(f) => json!({"real": f}),
        Value::Text(s) => json!({"text": s}),
        Value::Blob(b) => json!({"blob": b}),
        Value::Null => json!({"null": null}),
    }
}

fn sql(label: &str, body: &[u8]) -> Response {
    let Ok(input) = serde_json::from_slice::<Json>(body) else {
        return reply(400, json!({"error": "bad test input"}));
    };
    let Some((statement, params)) = statement_of(&input) else {
        return reply(400, json!({"error": "bad test params"}));
    };
    let result = Connection::open(label).and_then(|c| c.execute(statement, &params));
    reply(200, sql_answer(result))
}

fn sql_steps(label: &str, body: &[u8]) -> Response {
    let Ok(Json::Array(steps)) = serde_json::from_slice::<Json>(body) else {
        return reply(400, json!({"error": "bad test input"}));
    };
    let c = match Connection::open(label) {
        Ok(c) => c,
        Err(e) => return reply(200, sql_answer(Err(e))),
    };
    let mut answers = Vec::new();
    for step in &steps {
        if let Some(ms) = step["sleep_ms"].as_u64() {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            answers.push(json!("slept"));
            continue;
        }
        let Some((statement, params)) = statement_of(step) else {
            return reply(400, json!({"error": "bad test params"}));
        };
        answers.push(sql_answer(c.execute(statement, &params)));
    }
    reply(200, Json::Array(answers))
}

/// A step's statement and parameters (`None`: a parameter is not a value).
fn statement_of(input: &Json) -> Option<(&str, Vec<Value>)> {
    let statement = input["sql"].as_str().unwrap_or_default();
    let params = input["params"]
        .as_array()
        .map(|a| a.iter().map(to_value).collect())
        .unwrap_or(Some(Vec::new()))?;
    Some((statement, params))
}

fn sql_answer(result: Result<spin_sdk::sqlite::QueryResult, SqlError>) -> Json {
    match result {
        Ok(r) => json!({"ok": {
            "columns": r.columns,
            "rows": r.rows.iter().map(|row| row.values.iter().map(from_value).collect::<Vec<_>>()).collect::<Vec<_>>(),
        }}),
        Err(e) => match e {
            SqlError::AccessDenied => json!({"error": "access-denied"}),
            SqlError::NoSuchDatabase => json!({"error": "no-such-database"}),
            SqlError::InvalidConnection => json!({"error": "invalid-connection"}),
            SqlError::DatabaseFull => json!({"error": "database-full"}),
            SqlError::Io(m) => json!({"error": "io", "detail": m}),
        },
    }
}

fn increment(label: &str, req: &Request) -> Response {
    let ms: u64 = query_number(req, "ms=", 0);
    let keep = query_number(req, "keep=", 1) != 0;
    let run = || -> Result<i64, (String, SqlError)> {
        let step = |what: &str, e| (what.to_string(), e);
        let c = Connection::open(label).map_err(|e| step("open", e))?;
        c.execute(
            "CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, n INTEGER NOT NULL)",
            &[],
        )
        .map_err(|e| step("create", e))?;
        c.execute("BEGIN", &[]).map_err(|e| step("begin", e))?;
        let read = c
            .execute("SELECT n FROM counter WHERE k = 'c'", &[])
            .map_err(|e| step("select", e))?;
        let n = match read.rows.first().and_then(|r| r.values.first()) {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        };
        std::thread::sleep(std::time::Duration::from_millis(ms));
        c.execute(
            "INSERT INTO counter (k, n) VALUES ('c', ?) ON CONFLICT (k) DO UPDATE SET n = excluded.n",
            &[Value::Integer(n + 1)],
        )
        .map_err(|e| step("write", e))?;
        let end = if keep { "COMMIT" } else { "ROLLBACK" };
        c.execute(end, &[]).map_err(|e| step(end, e))?;
        Ok(n)
    };
    match run() {
        Ok(n) => reply(200, json!({"read": n})),
        Err((what, e)) => reply(200, json!({"failed": what, "error": format!("{e:?}")})),
    }
}

fn variable(name: &str) -> Response {
    use spin_sdk::variables::Error;
    match spin_sdk::variables::get(name) {
        Ok(v) => reply(200, json!({"ok": v})),
        Err(Error::InvalidName(m)) => reply(200, json!({"error": "invalid-name", "detail": m})),
        Err(Error::Undefined(m)) => reply(200, json!({"error": "undefined", "detail": m})),
        Err(Error::Provider(m)) => reply(200, json!({"error": "provider", "detail": m})),
        Err(Error::Other(m)) => reply(200, json!({"error": "other", "detail": m})),
    }
}

async fn outbound(req: &Request) -> Response {
    let query = req.query();
    let url = query.strip_prefix("url=").unwrap_or_default();
    let outgoing = Request::get(url).build();
    match spin_sdk::http::send::<_, Response>(outgoing).await {
        Ok(resp) => reply(
            200,
            json!({"ok": {"status": resp.status(), "body": bytes_text(resp.body().to_vec())}}),
        ),
        Err(e) => reply(200, json!({"error": format!("{e:?}")})),
    }
}

fn echo(req: &Request) -> Response {
    let spin: serde_json::Map<String, Json> = req
        .headers()
        .filter(|(k, _)| k.starts_with("spin-"))
        .map(|(k, v)| (k.to_string(), json!(v.as_str().unwrap_or_default())))
        .collect();
    reply(
        200,
        json!({"uri": req.uri(), "method": req.method().to_string(), "headers": spin, "body_len": req.body().len()}),
    )
}

fn busy() -> Response {
    // Spin until the host's deadline stops the instance.
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
        if x == u64::MAX {
            break;
        }
    }
    reply(200, json!({"never": x}))
}

/// The number a query of exactly `key` and a value gives (`mib=4`), else `default`.
fn query_number<T: std::str::FromStr>(req: &Request, key: &str, default: T) -> T {
    req.query()
        .split('&')
        .find_map(|pair| pair.strip_prefix(key))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn alloc(req: &Request) -> Response {
    let mib: usize = query_number(req, "mib=", 1);
    let mut v: Vec<u8> = Vec::new();
    // Touch every page so the memory is really grown.
    v.resize(mib * 1024 * 1024, 1);
    reply(
        200,
        json!({"allocated_mib": mib, "checksum": v.iter().step_by(4096).map(|b| *b as u64).sum::<u64>()}),
    )
}

/// Prints `mib` MiB to stdout and as much to stderr, in 64 KiB lines; answers once done.
fn flood(req: &Request) -> Response {
    use std::io::Write as _;
    let mib: usize = query_number(req, "mib=", 1);
    let mut line = vec![b'f'; 64 * 1024 - 1];
    line.push(b'\n');
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut written = 0usize;
    for _ in 0..mib * 16 {
        if out.write_all(&line).is_err() || err.write_all(&line).is_err() {
            break;
        }
        written += 2 * line.len();
    }
    reply(200, json!({"written": written}))
}

fn sleep(req: &Request) -> Response {
    let ms: u64 = query_number(req, "ms=", 100);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    reply(200, json!({"slept_ms": ms}))
}

fn hold_stores(label: &str, req: &Request) -> Response {
    let n: usize = req
        .query()
        .strip_prefix("n=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut held = Vec::new();
    for _ in 0..n {
        match Store::open(label) {
            Ok(store) => held.push(store),
            Err(e) => return reply(200, json!({"opened": held.len(), "error": kv_error(e)})),
        }
    }
    reply(200, json!({"opened": held.len()}))
}

fn trap() -> Response {
    std::process::abort()
}
