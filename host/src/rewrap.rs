//! `keyward rewrap` (docs/OPERATIONS.md, "Rotating the master key"): re-seals every sealed value
//! of every service under the current `master_key`, so that the keys in `master_key_previous`
//! can be removed. It reads the same manifest, runtime config and variables as `serve` and runs
//! beside serving hosts.
//!
//! Each sealed column ([`sealed_columns::COLUMNS`], the definitions the services seal with) is
//! walked in primary-key order, a page at a time. A value already under the current key is left
//! alone, so a rerun (after a crash, say) only does what is left. Any other value is opened
//! under the key ring and sealed again, then written back only if the row still holds the value
//! that was read (`UPDATE … WHERE <key> AND <column> = <old value>`): a serving host that wrote
//! the row meanwhile wrote it under the current key already. A last pass counts what is still
//! under a previous key; the command succeeds only when nothing is.

use std::io::Write;

use anyhow::{Context, Result};
use envelope::{Keyring, Sealer};
use sealed_columns::{COLUMNS, SealedColumn};
use serde_json::json;

use crate::audit_record::{self, CommandRecord};
use crate::capabilities::sqlite::SqlConn;
use crate::capabilities::sqlite::values::Value;
use crate::databases::{self, Database, query};
use crate::sources::Sources;

/// What one pass did to one column.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    resealed: u64,
    current: u64,
    /// Written by a serving host between the read and the write-back.
    changed: u64,
    /// Opened under none of the ring's keys (sealed under a key no longer configured, or
    /// tampered with).
    failed: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.resealed += o.resealed;
        self.current += o.current;
        self.changed += o.changed;
        self.failed += o.failed;
    }
}

/// `keyward rewrap`: `Ok(true)` when everything is sealed under the current key afterwards.
pub async fn run(sources: &Sources, batch: u32, out: &mut impl Write) -> Result<bool> {
    let (app, config, state_dir) = sources.load().await?;
    let rings = databases::keyrings(&app, &config)?;
    let [ring] = rings.as_slice() else {
        anyhow::bail!(
            "the components are given {} different master_key values: give every component the same one before re-sealing",
            rings.len()
        );
    };
    let mut all_done = true;
    for db in databases::of_app(&app, &config, &state_dir)? {
        let name = db.labels.join(", ");
        let mut conn = db.database.connect();
        let mut total = Counts::default();
        for column in COLUMNS {
            if !exists(&mut conn, column).await {
                continue;
            }
            let sealer = Sealer::with_keyring(ring, column.info)?;
            let counts = reseal(&mut conn, column, &sealer, batch, |c| {
                let _ = writeln!(
                    out,
                    "database {name}: {}.{}: {} re-sealed, {} already current, {} failed",
                    column.table, column.column, c.resealed, c.current, c.failed
                );
                let _ = out.flush();
            })
            .await
            .with_context(|| format!("database {name}: {column:?}"))?;
            total.add(counts);
        }
        let remaining = remaining(&mut conn, ring).await?;
        record(&mut conn, &db, ring, total, remaining).await?;
        writeln!(
            out,
            "database {name} ({}): {} re-sealed, {} already current, {} written meanwhile by a serving host, {} failed to open; {remaining} values remain under a previous key",
            db.place, total.resealed, total.current, total.changed, total.failed
        )?;
        all_done &= remaining == 0 && total.failed == 0;
    }
    out.flush()?;
    Ok(all_done)
}

async fn exists(conn: &mut SqlConn, column: &SealedColumn) -> bool {
    let sql = format!("SELECT 1 FROM {} LIMIT 1", column.table);
    query(conn, &sql, Vec::new()).await.is_ok()
}

/// The columns a page reads: the key, then the AAD's inputs, then the sealed value.
fn select(column: &SealedColumn, after: bool, batch: u32) -> String {
    let key = column.key.join(", ");
    let aad = column
        .aad_from
        .iter()
        .map(|c| format!("CAST({c} AS TEXT)"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut conditions = vec![format!("{} IS NOT NULL", column.column)];
    if let Some(only) = column.only_where {
        conditions.push(only.to_owned());
    }
    if after {
        let marks = vec!["?"; column.key.len()].join(", ");
        conditions.push(format!("({key}) > ({marks})"));
    }
    format!(
        "SELECT {key}, {aad}, {} FROM {} WHERE {} ORDER BY {key} LIMIT {batch}",
        column.column,
        column.table,
        conditions.join(" AND ")
    )
}

/// One row as a page gives it.
struct Row {
    key: Vec<Value>,
    aad: Option<String>,
    sealed: String,
}

fn row(column: &SealedColumn, values: Vec<Value>) -> Option<Row> {
    let mut values = values.into_iter();
    let key: Vec<Value> = values.by_ref().take(column.key.len()).collect();
    let aad_inputs: Vec<String> = values
        .by_ref()
        .take(column.aad_from.len())
        .map(|v| match v {
            Value::Text(t) => Some(t),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let Some(Value::Text(sealed)) = values.next() else {
        return None;
    };
    Some(Row {
        key,
        aad: (column.aad)(&aad_inputs),
        sealed,
    })
}

/// Walks one column, re-sealing what is not under the current key; `progress` after each page.
async fn reseal(
    conn: &mut SqlConn,
    column: &SealedColumn,
    sealer: &Sealer,
    batch: u32,
    mut progress: impl FnMut(&Counts),
) -> Result<Counts> {
    let mut counts = Counts::default();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let sql = select(column, after.is_some(), batch);
        let rows = query(conn, &sql, after.clone().unwrap_or_default()).await?;
        let full = rows.len() == usize::try_from(batch).unwrap_or(usize::MAX);
        for values in rows {
            let Some(r) = row(column, values) else {
                counts.failed += 1;
                continue;
            };
            after = Some(r.key.clone());
            if sealer.is_current(&r.sealed) {
                counts.current += 1;
                continue;
            }
            let aad = r.aad.unwrap_or_default();
            let Ok(plain) = sealer.open(&r.sealed, aad.as_bytes()) else {
                counts.failed += 1;
                continue;
            };
            let plain = zeroize::Zeroizing::new(plain);
            let resealed = sealer.seal(&plain, aad.as_bytes())?;
            let matches: Vec<String> = column.key.iter().map(|k| format!("{k} = ?")).collect();
            let sql = format!(
                "UPDATE {} SET {col} = ? WHERE {} AND {col} = ? RETURNING 1",
                column.table,
                matches.join(" AND "),
                col = column.column
            );
            let mut params = vec![Value::Text(resealed)];
            params.extend(r.key);
            params.push(Value::Text(r.sealed));
            if query(conn, &sql, params).await?.is_empty() {
                counts.changed += 1;
            } else {
                counts.resealed += 1;
            }
        }
        progress(&counts);
        if !full {
            return Ok(counts);
        }
    }
}

/// How many values of the database are still not under the current key.
async fn remaining(conn: &mut SqlConn, ring: &Keyring) -> Result<u64> {
    let mut left = 0;
    for column in COLUMNS {
        if !exists(conn, column).await {
            continue;
        }
        let sealer = Sealer::with_keyring(ring, column.info)?;
        let mut only = format!("{} IS NOT NULL", column.column);
        if let Some(w) = column.only_where {
            only = format!("{only} AND {w}");
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {only}",
            column.column, column.table
        );
        for values in query(conn, &sql, Vec::new()).await? {
            match values.first() {
                Some(Value::Text(sealed)) if sealer.is_current(sealed) => {}
                _ => left += 1,
            }
        }
    }
    Ok(left)
}

/// The re-wrap's audit record in the database it re-sealed (docs/OPERATIONS.md, "Audit trail").
async fn record(
    conn: &mut SqlConn,
    db: &Database,
    ring: &Keyring,
    done: Counts,
    remaining: u64,
) -> Result<()> {
    let entry = CommandRecord {
        service: "keyward",
        action: "master_key.rewrap",
        outcome: if remaining == 0 { "success" } else { "failure" },
        code: if remaining == 0 { "" } else { "VALUES_REMAIN" },
        object: db.labels.join(","),
        details: json!({
            "resealed": done.resealed,
            "already_current": done.current,
            "changed": done.changed,
            "failed": done.failed,
            "remaining": remaining,
        })
        .to_string(),
    };
    audit_record::append(conn, ring, entry, "the re-wrap's").await
}
