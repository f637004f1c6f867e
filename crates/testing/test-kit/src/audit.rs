//! The audit trail as a native test reads it straight from a service's SQLite file
//! (docs/OPERATIONS.md, "Audit trail"): its records in order and a check of the whole chain.

use audit_chain::{ChainKey, Record, Verifier};
use guest_kit::Db;

use crate::secrets::MASTER_KEY;

/// Every record, in order, with its link; none while no audited request has made the table.
pub fn records(db: &dyn Db) -> Vec<(Record, String)> {
    let Ok(rows) = db.execute(
        "SELECT seq, time_ms, request_id, service, action, outcome, code, actor, client, object, \
         details, key_id, mac FROM audit_log ORDER BY seq",
        &[],
    ) else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| {
            let t = |i| r.text(i).expect("a text column").to_owned();
            let record = Record {
                seq: r.integer(0).expect("seq"),
                time_ms: r.integer(1).expect("time_ms"),
                request_id: t(2),
                service: t(3),
                action: t(4),
                outcome: t(5),
                code: t(6),
                actor: t(7),
                client: t(8),
                object: t(9),
                details: t(10),
                key_id: t(11),
            };
            (record, t(12))
        })
        .collect()
}

/// Checks the whole chain and its head under the test master key; the number of records.
#[track_caller]
pub fn verify(db: &dyn Db) -> i64 {
    let master = envelope::MasterKey::parse(MASTER_KEY).expect("master key");
    let keys = [ChainKey::derive(&master).expect("chain key")];
    let mut v = Verifier::new(&keys);
    for (r, mac) in records(db) {
        v.push(&r, &mac).expect("an intact chain");
    }
    let head = db
        .execute("SELECT seq, mac FROM audit_head WHERE id = 1", &[])
        .expect("audit_head");
    let head = head.first().expect("the head row");
    v.finish(head.integer(0).expect("seq"), head.text(1).expect("mac"))
        .expect("the head matches the last record");
    v.last()
}

/// One record as tests compare it: (action, outcome, code, actor, object, details).
pub type Row = (String, String, String, String, String, serde_json::Value);

/// A [`Row`] from its parts.
pub fn row(
    action: &str,
    outcome: &str,
    code: &str,
    actor: &str,
    object: &str,
    details: serde_json::Value,
) -> Row {
    (
        action.into(),
        outcome.into(),
        code.into(),
        actor.into(),
        object.into(),
        details,
    )
}

/// The records after the first `from`, as [`Row`]s.
pub fn rows_since(db: &dyn Db, from: usize) -> Vec<Row> {
    records(db)
        .into_iter()
        .skip(from)
        .map(|(r, _)| {
            let details = serde_json::from_str(&r.details).expect("details are JSON");
            (r.action, r.outcome, r.code, r.actor, r.object, details)
        })
        .collect()
}
