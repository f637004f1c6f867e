//! `keyward audit verify` and `keyward audit export` (docs/OPERATIONS.md, "Audit trail"): read
//! the audit chain each service writes into its own database, through the same manifest and
//! runtime config as `keyward serve`, so they find exactly the databases the services use.
//!
//! The chain's format and its checks live in the `audit-chain` crate, shared with the services
//! that write it; this module only finds the databases, reads them in sequence order and
//! reports.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use audit_chain::{Break, ChainKey, Record, Verifier};
use host_config::manifest::App;
use host_config::runtime_config::RuntimeConfig;
use serde_json::{Value as Json, json};

use crate::capabilities::sqlite::values::Value;
use crate::capabilities::sqlite::{Backend, SqlConn, SqlDatabase};
use crate::databases::{self, Database, keyrings, query};
pub use crate::sources::Sources;

/// Records read per query: a long trail is read in pages, never whole.
const PAGE: i64 = 1000;

const COLUMNS: &str = "seq, time_ms, request_id, service, action, outcome, code, actor, client, \
                       object, details, key_id, mac";

/// Every chain key the deployment's components were given: `master_key` and
/// `master_key_previous` as each component renders them (normally one key, more after a
/// rotation: each record names the key that linked it).
fn keys(app: &App, config: &RuntimeConfig) -> Result<Vec<ChainKey>> {
    let mut keys: Vec<ChainKey> = Vec::new();
    for ring in keyrings(app, config)? {
        for master in ring.keys() {
            let key = ChainKey::derive(master)?;
            if !keys.iter().any(|k| k.id() == key.id()) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

fn record(row: Vec<Value>) -> Result<(Record, String)> {
    let mut values = row.into_iter();
    let mut int = || match values.next() {
        Some(Value::Integer(i)) => Ok(i),
        _ => bail!("an audit record has a malformed column"),
    };
    let (seq, time_ms) = (int()?, int()?);
    let mut text = || match values.next() {
        Some(Value::Text(t)) => Ok(t),
        _ => bail!("audit record {seq} has a malformed column"),
    };
    let record = Record {
        seq,
        time_ms,
        request_id: text()?,
        service: text()?,
        action: text()?,
        outcome: text()?,
        code: text()?,
        actor: text()?,
        client: text()?,
        object: text()?,
        details: text()?,
        key_id: text()?,
    };
    Ok((record, text()?))
}

/// Reads a chain's records after `after`, one page at a time, handing each to `each`.
async fn read(
    conn: &mut SqlConn,
    mut after: i64,
    mut each: impl FnMut(Record, String) -> Result<bool>,
) -> Result<()> {
    loop {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = query(
            conn,
            &sql,
            vec![Value::Integer(after), Value::Integer(PAGE)],
        )
        .await?;
        let full = i64::try_from(rows.len()).unwrap_or(0) == PAGE;
        for row in rows {
            let (r, mac) = record(row)?;
            after = r.seq;
            if !each(r, mac)? {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// What `verify` found in one chain.
enum Verdict {
    Intact {
        records: i64,
        head: String,
    },
    Broken(Break),
    /// The database holds tables but no trail: it was removed, or the services have not served
    /// an audited request since they were upgraded.
    Missing,
    /// No table at all: nothing was ever stored.
    Empty,
}

async fn verify_chain(chain: &Database, keys: &[ChainKey]) -> Result<Verdict> {
    let mut conn = chain.database.connect();
    let Ok(head) = query(
        &mut conn,
        "SELECT seq, mac FROM audit_head WHERE id = 1",
        vec![],
    )
    .await
    else {
        return Ok(if is_empty(&chain.database, &mut conn).await? {
            Verdict::Empty
        } else {
            Verdict::Missing
        });
    };
    let (head_seq, head_mac) = match head.into_iter().next().map(Vec::into_iter) {
        Some(mut v) => match (v.next(), v.next()) {
            (Some(Value::Integer(s)), Some(Value::Text(m))) => (s, m),
            _ => bail!("the chain's head is malformed"),
        },
        None => return Ok(Verdict::Missing),
    };
    let mut verifier = Verifier::new(keys);
    let mut broken = None;
    read(&mut conn, 0, |r, mac| match verifier.push(&r, &mac) {
        Ok(()) => Ok(true),
        Err(b) => {
            broken = Some(b);
            Ok(false)
        }
    })
    .await?;
    if let Some(b) = broken {
        return Ok(Verdict::Broken(b));
    }
    if let Err(b) = verifier.finish(head_seq, &head_mac) {
        return Ok(Verdict::Broken(b));
    }
    Ok(Verdict::Intact {
        records: verifier.last(),
        head: verifier.head(),
    })
}

/// Whether the database has no table at all.
async fn is_empty(database: &SqlDatabase, conn: &mut SqlConn) -> Result<bool> {
    let sql = match &database.backend {
        Backend::Sqlite(_) => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres(_) => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let rows = query(conn, sql, vec![]).await?;
    Ok(matches!(
        rows.first().and_then(|r| r.first()),
        Some(Value::Integer(0))
    ))
}

/// `keyward audit verify`: checks every chain; `Ok(false)` when one is broken or missing.
pub async fn verify(sources: &Sources, out: &mut impl Write) -> Result<bool> {
    let (app, config, state_dir) = sources.load().await?;
    let keys = keys(&app, &config)?;
    let mut all_intact = true;
    for chain in databases::of_app(&app, &config, &state_dir)? {
        let name = format!("database {} ({})", chain.labels.join(", "), chain.place);
        match verify_chain(&chain, &keys).await? {
            Verdict::Intact { records, head } => writeln!(
                out,
                "{name}: {records} records, chain intact; head {records}:{head}"
            )?,
            Verdict::Broken(b) => {
                all_intact = false;
                writeln!(out, "{name}: BROKEN: {b}")?;
            }
            Verdict::Missing => {
                all_intact = false;
                writeln!(
                    out,
                    "{name}: MISSING: the database holds data but no audit trail (removed, or no audited request since an upgrade)"
                )?;
            }
            Verdict::Empty => writeln!(out, "{name}: empty, no records yet")?,
        }
    }
    Ok(all_intact)
}

/// `keyward audit export`: every record (of one service, from one time on) as JSON lines, in
/// sequence order per database. It does not verify: run `verify` for that.
pub async fn export(
    sources: &Sources,
    since_ms: Option<i64>,
    service: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    let (app, config, state_dir) = sources.load().await?;
    for chain in databases::of_app(&app, &config, &state_dir)? {
        let mut conn = chain.database.connect();
        // A database without a trail has nothing to export (`verify` says whether that is
        // suspicious).
        if query(&mut conn, "SELECT 1 FROM audit_head", vec![])
            .await
            .is_err()
        {
            continue;
        }
        let database = chain.labels.join(",");
        read(&mut conn, 0, |r, mac| {
            let wanted =
                since_ms.is_none_or(|s| r.time_ms >= s) && service.is_none_or(|s| r.service == s);
            if wanted {
                serde_json::to_writer(&mut *out, &json_line(&database, r, mac))?;
                out.write_all(b"\n")?;
            }
            Ok(true)
        })
        .await?;
    }
    out.flush()?;
    Ok(())
}

/// One exported record: its fields, its time also as RFC 3339, its details as an object.
fn json_line(database: &str, r: Record, mac: String) -> Json {
    let time = u64::try_from(r.time_ms)
        .ok()
        .map(|ms| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)))
        .map(|t| t.to_string());
    let details = serde_json::from_str::<Json>(&r.details).unwrap_or(Json::String(r.details));
    json!({
        "database": database,
        "seq": r.seq,
        "time": time,
        "time_ms": r.time_ms,
        "request_id": r.request_id,
        "service": r.service,
        "action": r.action,
        "outcome": r.outcome,
        "code": r.code,
        "actor": r.actor,
        "client": r.client,
        "object": r.object,
        "details": details,
        "key_id": r.key_id,
        "mac": mac,
    })
}

/// `--since`: an RFC 3339 time (`2026-12-01T10:00:00Z`) or unix milliseconds.
pub fn parse_since(text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(text)
        .with_context(|| format!("--since {text:?} is neither RFC 3339 nor unix milliseconds"))?;
    let ms = t
        .duration_since(UNIX_EPOCH)
        .context("--since is before 1970")?;
    Ok(i64::try_from(ms.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_both_forms() {
        assert_eq!(parse_since("1767225600000").ok(), Some(1_767_225_600_000));
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z").ok(),
            Some(1_767_225_600_000)
        );
        assert!(parse_since("yesterday").is_err());
    }
}
