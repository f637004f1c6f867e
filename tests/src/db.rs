//! A service's database as the tests see it, whichever backend the pass runs on: the embedded
//! SQLite file `<state dir>/<label>.db`, or the PostgreSQL database the harness made for that
//! state directory and label (see [`Backend::runtime_config`]). Tests write their SQL once, in the
//! portable subset the services use (`?` / `?N` placeholders, BIGINT/TEXT), and get the same
//! answers from both; reading and tampering checks therefore run on both passes.
//!
//! [`at_rest`] is the other half: every byte the deployment keeps (state-directory files, or
//! every PostgreSQL table row and Redis value of that state directory), for "no plaintext at
//! rest" checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::Backend;

/// A value going into or coming out of a service database.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Val {
        Val::Text(s.clone())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}

impl Val {
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// One service database (one `sqlite_databases` label) of one deployment.
pub struct ServiceDb {
    conn: Conn,
    label: String,
}

impl ServiceDb {
    /// The database of `label` for the host(s) started with `state_dir`, on this pass's backend.
    pub fn open(state_dir: &Path, label: &str) -> ServiceDb {
        let conn = match Backend::from_env().database_url(state_dir, label) {
            None => {
                let path = state_dir.join(format!("{label}.db"));
                let c = rusqlite::Connection::open(&path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                c.busy_timeout(Duration::from_secs(10))
                    .expect("busy timeout");
                Conn::Sqlite(c)
            }
            Some(url) => Conn::Postgres(
                postgres::Client::connect(&url, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("connect to the {label} database: {e}")),
            ),
        };
        ServiceDb {
            conn,
            label: label.to_string(),
        }
    }

    /// Every row of a query (or of a statement with `RETURNING`).
    pub fn try_rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, String> {
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare(sql).map_err(|e| e.to_string())?;
                let n = stmt.column_count();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params.iter().map(sqlite_param)))
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                    let mut vals = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        vals.push(match row.get_ref(i).map_err(|e| e.to_string())? {
                            ValueRef::Null => Val::Null,
                            ValueRef::Integer(i) => Val::Int(i),
                            ValueRef::Real(r) => Val::Real(r),
                            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                        });
                    }
                    out.push(vals);
                }
                Ok(out)
            }
            Conn::Postgres(c) => {
                let boxed: Vec<Box<dyn postgres::types::ToSql + Sync>> =
                    params.iter().map(pg_param).collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                let rows = c
                    .query(&pg_placeholders(sql), &refs)
                    .map_err(|e| format!("{e:?}"))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// [`ServiceDb::rows`] in the services' own value type, for the test kit's `Driver`.
    pub fn guest_rows(&mut self, sql: &str, params: &[guest_kit::Value]) -> guest_kit::Rows {
        use guest_kit::Value as G;
        let params: Vec<Val> = params
            .iter()
            .map(|p| match p {
                G::Integer(i) => Val::Int(*i),
                G::Real(r) => Val::Real(*r),
                G::Text(t) => Val::Text(t.clone()),
                G::Blob(b) => Val::Blob(b.clone()),
                G::Null => Val::Null,
            })
            .collect();
        let rows = self
            .rows(sql, &params)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Val::Int(i) => G::Integer(i),
                        Val::Real(r) => G::Real(r),
                        Val::Text(t) => G::Text(t),
                        Val::Blob(b) => G::Blob(b),
                        Val::Null => G::Null,
                    })
                    .collect()
            })
            .collect();
        guest_kit::Rows {
            columns: Vec::new(),
            rows,
        }
    }

    pub fn rows(&mut self, sql: &str, params: &[Val]) -> Vec<Vec<Val>> {
        let label = self.label.clone();
        self.try_rows(sql, params)
            .unwrap_or_else(|e| panic!("{label} database: {sql}: {e}"))
    }

    /// Runs a statement; returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Val]) -> u64 {
        let result = match &mut self.conn {
            Conn::Sqlite(c) => c
                .execute(
                    sql,
                    rusqlite::params_from_iter(params.iter().map(sqlite_param)),
                )
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            Conn::Postgres(c) => {
                let boxed: Vec<Box<dyn postgres::types::ToSql + Sync>> =
                    params.iter().map(pg_param).collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                c.execute(&pg_placeholders(sql), &refs)
                    .map_err(|e| format!("{e:?}"))
            }
        };
        result.unwrap_or_else(|e| panic!("{} database: {sql}: {e}", self.label))
    }

    /// The one value of a one-row, one-column query.
    pub fn value(&mut self, sql: &str, params: &[Val]) -> Val {
        let rows = self.rows(sql, params);
        assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
        rows.into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or_else(|| panic!("{sql}: no column"))
    }

    /// The columns of a one-row query, all text.
    pub fn text_row(&mut self, sql: &str, params: &[Val]) -> Vec<String> {
        let rows = self.rows(sql, params);
        assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
        rows.into_iter()
            .flatten()
            .map(|v| match v {
                Val::Text(s) => s,
                other => panic!("{sql}: not text: {other:?}"),
            })
            .collect()
    }

    /// An integer (e.g. `SELECT COUNT(*) …`).
    pub fn int(&mut self, sql: &str, params: &[Val]) -> i64 {
        let v = self.value(sql, params);
        v.int()
            .unwrap_or_else(|| panic!("{sql}: not an integer: {v:?}"))
    }

    pub fn text(&mut self, sql: &str, params: &[Val]) -> String {
        let v = self.value(sql, params);
        v.text()
            .unwrap_or_else(|| panic!("{sql}: not text: {v:?}"))
            .to_string()
    }

    /// Every row of every table, as text: what this database holds, for "no plaintext at rest"
    /// checks (on SQLite the file's bytes say more: they include freed pages and the WAL).
    pub fn dump(&mut self) -> Vec<u8> {
        match &mut self.conn {
            Conn::Postgres(c) => pg_dump(c),
            Conn::Sqlite(_) => {
                let mut out = Vec::new();
                for table in self.texts("SELECT name FROM sqlite_master WHERE type = 'table'", &[])
                {
                    for row in self.rows(&format!("SELECT * FROM \"{table}\""), &[]) {
                        for v in row {
                            match v {
                                Val::Text(t) => out.extend_from_slice(t.as_bytes()),
                                Val::Blob(b) => out.extend_from_slice(&b),
                                Val::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
                                Val::Real(r) => out.extend_from_slice(r.to_string().as_bytes()),
                                Val::Null => {}
                            }
                            out.push(b'\n');
                        }
                    }
                }
                out
            }
        }
    }

    /// The first column of every row, as text (unsorted: sort in Rust, the engines' text
    /// collations differ).
    pub fn texts(&mut self, sql: &str, params: &[Val]) -> Vec<String> {
        self.rows(sql, params)
            .into_iter()
            .map(|r| match r.first() {
                Some(Val::Text(s)) => s.clone(),
                other => panic!("{sql}: not text: {other:?}"),
            })
            .collect()
    }
}

/// Every row of every table of a PostgreSQL database, in PostgreSQL's row text form.
fn pg_dump(c: &mut postgres::Client) -> Vec<u8> {
    let mut out = Vec::new();
    let tables: Vec<String> = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .expect("list tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in tables {
        for row in c
            .query(&format!("SELECT t::text FROM \"{t}\" t"), &[])
            .expect("dump table")
        {
            let text: String = row.get(0);
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

fn sqlite_param(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::Null => Value::Null,
        Val::Int(i) => Value::Integer(*i),
        Val::Real(r) => Value::Real(*r),
        Val::Text(s) => Value::Text(s.clone()),
        Val::Blob(b) => Value::Blob(b.clone()),
    }
}

fn pg_param(v: &Val) -> Box<dyn postgres::types::ToSql + Sync> {
    match v {
        Val::Null => Box::new(Option::<String>::None),
        Val::Int(i) => Box::new(*i),
        Val::Real(r) => Box::new(*r),
        Val::Text(s) => Box::new(s.clone()),
        Val::Blob(b) => Box::new(b.clone()),
    }
}

fn pg_row(row: &postgres::Row) -> Result<Vec<Val>, String> {
    use postgres::types::Type;
    // Column `i` as `T`, named in the error.
    fn get<'a, T: postgres::types::FromSql<'a>>(
        row: &'a postgres::Row,
        i: usize,
    ) -> Result<Option<T>, String> {
        row.try_get(i)
            .map_err(|e| format!("column {}: {e}", row.columns()[i].name()))
    }
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            get::<i64>(row, i)?.map(Val::Int)
        } else if *t == Type::INT4 {
            get::<i32>(row, i)?.map(|v| Val::Int(v.into()))
        } else if *t == Type::INT2 {
            get::<i16>(row, i)?.map(|v| Val::Int(v.into()))
        } else if *t == Type::BOOL {
            get::<bool>(row, i)?.map(|v| Val::Int(v.into()))
        } else if *t == Type::FLOAT8 {
            get::<f64>(row, i)?.map(Val::Real)
        } else if *t == Type::FLOAT4 {
            get::<f32>(row, i)?.map(|v| Val::Real(v.into()))
        } else if *t == Type::BYTEA {
            get::<Vec<u8>>(row, i)?.map(Val::Blob)
        } else {
            get::<String>(row, i)?.map(Val::Text)
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(out)
}

/// `?` → `$1, $2, …` and `?N` → `$N`, outside string literals (the host does the same for
/// components' SQL).
fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0;
    let mut in_str = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_str = !in_str;
            out.push(c);
        } else if c == '?' && !in_str {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                next += 1;
                digits = next.to_string();
            }
            out.push('$');
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    out
}

/// The database `label` as stored: on the embedded backend `<label>.db` plus its `-wal` (recent
/// writes live there before a checkpoint), on PostgreSQL every row of its tables.
pub fn database_bytes(state_dir: &Path, label: &str) -> Vec<u8> {
    if Backend::from_env() != Backend::Embedded {
        let out = ServiceDb::open(state_dir, label).dump();
        assert!(!out.is_empty(), "nothing in the {label} database");
        return out;
    }
    let mut out = Vec::new();
    for name in [format!("{label}.db"), format!("{label}.db-wal")] {
        if let Ok(b) = std::fs::read(state_dir.join(name)) {
            out.extend_from_slice(&b);
        }
    }
    assert!(
        !out.is_empty(),
        "no {label}.db under {}",
        state_dir.display()
    );
    out
}

/// Everything the deployment started with `state_dir` keeps at rest, concatenated: on the
/// embedded backends every file under the state directory except the compiled-component cache;
/// on PostgreSQL + Redis the text of every row of every table of its databases, and every key
/// and value of its Redis hashes.
pub fn at_rest(state_dir: &Path) -> Vec<u8> {
    match Backend::from_env() {
        Backend::Embedded => files_under(state_dir),
        Backend::ScaleOut { pg_url, redis_url } => {
            let scope = crate::scope(state_dir);
            let mut out = Vec::new();
            let mut admin =
                postgres::Client::connect(&pg_url, postgres::NoTls).expect("connect PostgreSQL");
            let dbs: Vec<String> = admin
                .query(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1",
                    &[&format!("kw\\_{scope}\\_%")],
                )
                .expect("list databases")
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(!dbs.is_empty(), "no database for {}", state_dir.display());
            for db in dbs {
                let url = crate::database_url_named(&pg_url, &db).expect("database url");
                let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                out.extend(pg_dump(&mut c));
            }
            out.extend(redis_dump(&redis_url, &format!("kw:{scope}:*")));
            out
        }
    }
}

fn files_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "cache") {
                    stack.push(p);
                }
            } else if let Ok(b) = std::fs::read(&p) {
                out.extend_from_slice(&b);
            }
        }
    }
    out
}

/// Every field and value of every Redis hash whose name matches `pattern` (the host keeps one
/// hash per key-value label). A few lines of RESP: the tests need no Redis client crate.
fn redis_dump(url: &str, pattern: &str) -> Vec<u8> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = Resp::connect(hostport);
    if !db.is_empty() {
        conn.call(&[b"SELECT", db.as_bytes()]);
    }
    let mut out = Vec::new();
    let RespVal::Array(keys) = conn.call(&[b"KEYS", pattern.as_bytes()]) else {
        panic!("KEYS: unexpected reply");
    };
    for key in keys {
        let RespVal::Bulk(Some(key)) = key else {
            continue;
        };
        if let RespVal::Array(items) = conn.call(&[b"HGETALL", &key]) {
            for item in items {
                if let RespVal::Bulk(Some(b)) = item {
                    out.extend_from_slice(&b);
                    out.push(b'\n');
                }
            }
        }
    }
    out
}

enum RespVal {
    Simple,
    Int,
    Bulk(Option<Vec<u8>>),
    Array(Vec<RespVal>),
}

struct Resp {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Resp {
    fn connect(hostport: &str) -> Resp {
        let w = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("Redis {hostport}: {e}"));
        w.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let r = BufReader::new(w.try_clone().expect("clone"));
        Resp { w, r }
    }

    fn call(&mut self, args: &[&[u8]]) -> RespVal {
        let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            cmd.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            cmd.extend_from_slice(a);
            cmd.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&cmd).expect("Redis write");
        self.read()
    }

    fn read(&mut self) -> RespVal {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("Redis read");
        let line = line.trim_end();
        let (kind, rest) = line.split_at(1.min(line.len()));
        match kind {
            "+" => RespVal::Simple,
            ":" => RespVal::Int,
            "-" => panic!("Redis error: {rest}"),
            "$" => {
                let n: i64 = rest.parse().expect("bulk length");
                if n < 0 {
                    return RespVal::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut buf).expect("bulk");
                buf.truncate(n as usize);
                RespVal::Bulk(Some(buf))
            }
            "*" => {
                let n: i64 = rest.parse().expect("array length");
                RespVal::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            _ => panic!("Redis: unexpected reply {line:?}"),
        }
    }
}
