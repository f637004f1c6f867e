//! Schema probes answered from memory (docs/platform.md, "Design: schema probes"). Every request
//! of a service first asks whether its schema is complete by probing a marker table with
//! `SELECT 1 FROM <marker> WHERE 1 = 0`. That statement's answer depends on nothing but whether
//! the table exists: it is empty, with the same columns, every time. So once a probe has
//! succeeded outside a transaction (the table is committed), the host answers the same probe
//! itself for the rest of the process, without a pooled connection, a read transaction or a
//! round trip to PostgreSQL.
//!
//! A table stops existing only through `DROP`, `ALTER … RENAME`, or a `DETACH` of the database
//! that held it. Any statement that names one of those words (or `ATTACH`, which can make an
//! unqualified name resolve elsewhere on one connection) empties the memory, and again once it
//! is committed (when its transaction ends, or when it returns outside one); a connection that
//! ran one never teaches the memory anything.

use std::collections::HashMap;
use std::sync::Mutex;

use super::values::QueryResult;

/// The marker tables one database is known to have, with the columns their probe answered.
#[derive(Debug, Default)]
pub struct KnownTables {
    tables: Mutex<HashMap<String, Vec<String>>>,
}

impl KnownTables {
    /// The probe's answer, if this table is known to exist.
    pub fn answer(&self, table: &str) -> Option<QueryResult> {
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.get(table).map(|columns| QueryResult {
            columns: columns.clone(),
            rows: Vec::new(),
        })
    }

    /// Remembers a probe the database itself answered outside any transaction.
    pub fn learn(&self, table: &str, answered: &QueryResult) {
        if !answered.rows.is_empty() {
            // Not the shape this module knows; nothing to remember.
            return;
        }
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.insert(table.to_owned(), answered.columns.clone());
    }

    pub fn forget_all(&self) {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The marker table of a schema probe, if `sql` is exactly one: `SELECT 1 FROM <name> WHERE 1 =
/// 0` (keywords in any case, any whitespace, an optional `;`), `<name>` a plain identifier.
pub fn probed_table(sql: &str) -> Option<&str> {
    let mut words = sql.trim().trim_end_matches(';').split_ascii_whitespace();
    let mut next_is = |expected: &str| {
        words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(expected))
    };
    if !(next_is("SELECT") && next_is("1") && next_is("FROM")) {
        return None;
    }
    let table = words.next()?;
    let plain = table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest: Vec<&str> = words.collect();
    let tail_ok = rest.len() == 4
        && rest
            .iter()
            .zip(["WHERE", "1", "=", "0"])
            .all(|(w, e)| w.eq_ignore_ascii_case(e));
    (plain && tail_ok).then_some(table)
}

/// Whether `sql` could make a table vanish, or make an unqualified name resolve to another
/// database: it names `DROP`, `ALTER`, `ATTACH` or `DETACH` anywhere as a word. Conservative on
/// purpose (a comment or a string naming one forgets too): forgetting only costs one real probe.
pub fn may_remove_tables(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| {
            ["DROP", "ALTER", "ATTACH", "DETACH"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_probe_shape_is_recognised() {
        assert_eq!(
            probed_table("SELECT 1 FROM ks_schema_2 WHERE 1 = 0"),
            Some("ks_schema_2")
        );
        assert_eq!(probed_table("  select 1\n from T where 1 = 0 ;"), Some("T"));
        for other in [
            "SELECT 1 FROM ks_schema_2 LIMIT 1",
            "SELECT 1 FROM ks_schema_2 WHERE 1 = 1",
            "SELECT 1 FROM ks_schema_2 WHERE 1 = 0 OR 1 = 1",
            "SELECT 2 FROM t WHERE 1 = 0",
            "SELECT 1 FROM main.t WHERE 1 = 0",
            "SELECT 1 FROM \"t\" WHERE 1 = 0",
            "SELECT 1 FROM 9t WHERE 1 = 0",
            "SELECT 1 FROM t, u WHERE 1 = 0",
            "SELECT 1 FROM",
            "",
        ] {
            assert_eq!(probed_table(other), None, "{other}");
        }
    }

    #[test]
    fn statements_that_can_remove_a_table_are_recognised() {
        for removing in [
            "DROP TABLE t",
            "  drop index i",
            "ALTER TABLE t RENAME TO u",
            "/* x */ DROP TABLE t",
            "DETACH DATABASE aux",
            "ATTACH DATABASE 'x.db' AS aux",
        ] {
            assert!(may_remove_tables(removing), "{removing}");
        }
        for keeping in [
            "SELECT dropped_at FROM t",
            "INSERT INTO alterations VALUES (1)",
            "CREATE TABLE IF NOT EXISTS t (a INTEGER)",
            "BEGIN",
        ] {
            assert!(!may_remove_tables(keeping), "{keeping}");
        }
    }

    #[test]
    fn a_learned_probe_is_answered_until_forgotten() {
        let known = KnownTables::default();
        assert!(known.answer("m").is_none());
        let answered = QueryResult {
            columns: vec!["1".into()],
            rows: Vec::new(),
        };
        known.learn("m", &answered);
        assert_eq!(known.answer("m"), Some(answered));
        known.forget_all();
        assert!(known.answer("m").is_none());
    }
}
