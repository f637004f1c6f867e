//! Portable SQL access: the value model of Spin's `sqlite` interface, which the
//! keyward host also maps onto PostgreSQL.

/// One SQL value, as in `fermyon:spin/sqlite@2.0.0`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

/// Text parameters from any of the string types callers hold.
macro_rules! text_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Text(v.into())
            }
        }
    )*};
}

text_from!(&str, String, &String);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The result of one statement: column names and rows of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.rows.first().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// A borrowed row with typed getters that return `None` instead of panicking
/// on a missing column or an unexpected type.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The value at `index`, if the row has that many columns.
    pub fn get(&self, index: usize) -> Option<&'a Value> {
        self.values.get(index)
    }

    /// The value of the column named `name` (ASCII case-insensitive, since
    /// PostgreSQL folds unquoted identifiers to lower case).
    pub fn get_by_name(&self, name: &str) -> Option<&'a Value> {
        let index = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))?;
        self.values.get(index)
    }

    pub fn text(&self, index: usize) -> Option<&'a str> {
        match self.get(index)? {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn integer(&self, index: usize) -> Option<i64> {
        match self.get(index)? {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// `Some(None)` for SQL NULL, `Some(Some(_))` for an integer, `None` for
    /// anything else (a schema mismatch).
    pub fn opt_integer(&self, index: usize) -> Option<Option<i64>> {
        match self.get(index)? {
            Value::Integer(i) => Some(Some(*i)),
            Value::Null => Some(None),
            _ => None,
        }
    }

    pub fn is_null(&self, index: usize) -> bool {
        matches!(self.get(index), Some(Value::Null))
    }
}

/// Why a statement failed. Messages never carry parameter values: parameters
/// may be secret material (ciphertexts, digests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("no such database")]
    NoSuchDatabase,
    #[error("access denied")]
    AccessDenied,
    #[error("invalid connection")]
    InvalidConnection,
    #[error("database full")]
    DatabaseFull,
    #[error("database error: {0}")]
    Io(String),
}

/// A database the service may run statements on (`?` placeholders).
pub trait Db {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;
}

impl<T: Db + ?Sized> Db for &T {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        (**self).execute(sql, params)
    }
}

/// A service's tables, created by the component on first use (there is no separate migration
/// step; docs/platform.md, "Design: sealing at rest").
///
/// `marker` names a table created after all the others: while it exists, the schema is complete,
/// so a request pays for one cheap probe instead of re-running every `CREATE … IF NOT EXISTS`.
/// A schema change gets a new marker name. Call this outside any transaction: on PostgreSQL a
/// failed probe would abort the surrounding one.
///
/// The probe, `SELECT 1 FROM <marker> WHERE 1 = 0`, answers the same (no rows) whatever the
/// table holds, so the keyward host answers it from memory once the table exists
/// (docs/platform.md, "Design: schema probes"); under other Spin hosts it is an ordinary query.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub marker: &'static str,
    pub statements: &'static [&'static str],
}

impl Schema {
    pub fn ensure(&self, db: &dyn Db) -> Result<(), DbError> {
        let probe = format!("SELECT 1 FROM {} WHERE 1 = 0", self.marker);
        if db.execute(&probe, &[]).is_ok() {
            return Ok(());
        }
        for ddl in self.statements {
            db.execute(ddl, &[])?;
        }
        let marker = format!(
            "CREATE TABLE IF NOT EXISTS {} (complete INTEGER NOT NULL)",
            self.marker
        );
        db.execute(&marker, &[])?;
        Ok(())
    }
}

/// After a transaction that erased secret data has committed: copies the WAL into the database
/// file and truncates it, so the erased values' old page images leave the WAL too
/// (docs/OPERATIONS.md, "Erasure"; the file's freed space is zeroed by `secure_delete`). Best
/// effort: a checkpoint that cannot finish now (a long reader) is left to SQLite's next
/// automatic one. The keyward host answers it with nothing on PostgreSQL, which has no such file.
pub const ERASURE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// Runs one request's statements as a single transaction: one commit (one WAL sync) instead of
/// one per statement, and no other request sees half of it.
///
/// `keep` looks at the outcome and says whether to commit it. A request that failed with a
/// client error usually keeps what it did (a consumed single-use token stays consumed); a storage
/// or internal failure rolls everything back. A failed `COMMIT` is reported as an error.
pub fn transaction<T>(
    db: &dyn Db,
    work: impl FnOnce() -> T,
    keep: impl FnOnce(&T) -> bool,
) -> Result<T, DbError> {
    db.execute("BEGIN", &[])?;
    let outcome = work();
    if keep(&outcome) {
        db.execute("COMMIT", &[])?;
    } else {
        // A failed ROLLBACK leaves nothing committed either: the host rolls back an open
        // transaction when the connection is released.
        let _ = db.execute("ROLLBACK", &[]);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_never_panic() {
        let rows = Rows {
            columns: vec!["a".into(), "B".into()],
            rows: vec![vec![Value::Integer(7), Value::Null]],
        };
        let row = rows.first().expect("one row");
        assert_eq!(row.integer(0), Some(7));
        assert_eq!(row.text(0), None);
        assert_eq!(row.integer(5), None);
        assert_eq!(row.opt_integer(1), Some(None));
        assert_eq!(row.get_by_name("b"), Some(&Value::Null));
        assert!(row.get_by_name("zz").is_none());
        assert!(Rows::default().first().is_none());
    }
}
