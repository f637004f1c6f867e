//! What a scenario runs against: a keyward deployment reached natively ([`crate::NativeDriver`])
//! or over HTTP (keyward-e2e's `Host`).

use guest_kit::{Request, Rows, Value};

use crate::reply::Reply;

/// A deployment of the product `spin.toml`. `Sync`, so scenarios may race requests from threads.
pub trait Driver: Sync {
    /// Sends one request (method, path and query, headers, body) and reads the whole response.
    fn send(&self, req: Request) -> Reply;

    /// What time it is for the service, in unix milliseconds (the fake clock natively, the wall
    /// clock over HTTP), so a scenario signs ss1 headers the service accepts.
    fn now_ms(&self) -> i64;

    /// The address the service sees requests come from (the HTTP driver connects from 127.0.0.1
    /// and the native one reports the same).
    fn client_ip(&self) -> &str {
        "127.0.0.1"
    }

    /// Runs SQL (the portable subset, `?` placeholders) on the database `label`, for checks of
    /// what is stored and for tampering with it.
    fn sql(&self, label: &str, sql: &str, params: &[Value]) -> Rows;

    /// Every byte the deployment keeps at rest for the database `label` and beside it.
    fn at_rest(&self, label: &str) -> Vec<u8>;
}

impl dyn Driver + '_ {
    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.now_ms() / 1000).expect("positive clock")
    }

    /// A request with string headers and a body.
    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut req = Request::new(method, path).with_body(body.to_vec());
        for (k, v) in headers {
            req = req.with_header(k, v);
        }
        self.send(req)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        self.call("POST", path, &[], body)
    }

    /// The one integer a query answers (e.g. `SELECT COUNT(*) …`).
    pub fn int(&self, label: &str, sql: &str, params: &[Value]) -> i64 {
        self.sql(label, sql, params)
            .first()
            .and_then(|r| r.integer(0))
            .unwrap_or_else(|| panic!("no integer from {sql}"))
    }

    /// The text columns of the one row a query answers.
    pub fn text_row(&self, label: &str, sql: &str, params: &[Value]) -> Vec<String> {
        let rows = self.sql(label, sql, params);
        assert_eq!(rows.len(), 1, "{sql}");
        let row = rows.first().expect("row");
        (0..rows.rows[0].len())
            .map(|i| {
                row.text(i)
                    .unwrap_or_else(|| panic!("column {i} of {sql}"))
                    .to_owned()
            })
            .collect()
    }
}
