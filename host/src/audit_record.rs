//! The audit record an operator command writes into a service's database (docs/OPERATIONS.md,
//! "Audit trail"), appended to the chain with the statements the services append with. Used by
//! `keyward rewrap` and `keyward shield import`; details name counts, never secrets.

use anyhow::{Context, Result, bail};
use audit_chain::{ChainKey, Record};
use envelope::Keyring;

use crate::capabilities::sqlite::SqlConn;
use crate::capabilities::sqlite::values::Value;
use crate::databases::query;

/// What a command records; the rest (time, request id, the `operator` actor, no client) is the
/// same for every command.
pub struct CommandRecord<'a> {
    pub service: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub code: &'a str,
    pub object: String,
    pub details: String,
}

/// Milliseconds since the epoch, 0 if the clock is before it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Appends `entry` to the database's audit chain in its own transaction, linked under the key
/// ring's current key; `what` names the command in the error ("the import's", "the re-wrap's").
pub async fn append(
    conn: &mut SqlConn,
    ring: &Keyring,
    entry: CommandRecord<'_>,
    what: &str,
) -> Result<()> {
    for ddl in audit_chain::sql::TABLES {
        query(conn, ddl, Vec::new()).await?;
    }
    let key = ChainKey::derive(ring.current())?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).context("the system random number generator failed")?;
    let mut record = Record {
        seq: 0,
        time_ms: now_ms(),
        request_id: hex::encode(id),
        service: entry.service.into(),
        action: entry.action.into(),
        outcome: entry.outcome.into(),
        code: entry.code.into(),
        actor: "operator".into(),
        client: String::new(),
        object: entry.object,
        details: entry.details,
        key_id: key.id().to_owned(),
    };
    query(conn, "BEGIN", Vec::new()).await?;
    let appended = async {
        let head = query(conn, audit_chain::sql::ADVANCE_HEAD, Vec::new()).await?;
        let (seq, prev) = match head.first().map(Vec::as_slice) {
            Some([Value::Integer(seq), Value::Text(mac)]) => (
                *seq,
                audit_chain::previous_link(mac).context("the audit head is malformed")?,
            ),
            _ => bail!("the audit head is malformed"),
        };
        record.seq = seq;
        let link = hex::encode(key.link(&prev, &record));
        let params = record
            .columns(&link)
            .map(|c| match c {
                audit_chain::Column::Integer(i) => Value::Integer(i),
                audit_chain::Column::Text(t) => Value::Text(t.to_owned()),
            })
            .to_vec();
        query(conn, audit_chain::sql::INSERT, params).await?;
        query(conn, audit_chain::sql::SET_HEAD, vec![Value::Text(link)]).await?;
        Ok(())
    }
    .await;
    match appended {
        Ok(()) => {
            query(conn, "COMMIT", Vec::new()).await?;
            Ok(())
        }
        Err(e) => {
            let _ = query(conn, "ROLLBACK", Vec::new()).await;
            Err(e.context(format!("cannot write {what} audit record")))
        }
    }
}
