//! The values, results and errors the SQL backends speak: the same shapes as the Spin
//! interface's, kept here so that the backends do not depend on the generated bindings (the
//! conversion is a move per value, in `host`).

/// A statement parameter or a column value. The guest kit has the same five cases on the
/// other side of the `sqlite` interface; the host keeps its own so that it never depends on a
/// guest crate.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<RowResult>,
}

/// What a statement's failure tells the guest (never data).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    InvalidConnection,
    DatabaseFull,
    Io(String),
}

/// Largest query result handed to a guest, summed over every value: a guest that selects a
/// whole large table gets an error it can act on instead of the host buffering it without bound.
pub const MAX_RESULT_BYTES: usize = 32 * 1024 * 1024;

/// Counts a result's bytes as its rows are read.
#[derive(Debug, Default)]
pub struct ResultBudget {
    used: usize,
}

impl ResultBudget {
    pub fn take(&mut self, value: &Value) -> Result<(), Error> {
        let size = match value {
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
            _ => 8,
        };
        self.used = self.used.saturating_add(size);
        if self.used > MAX_RESULT_BYTES {
            return Err(Error::Io(format!(
                "the query result is larger than {} MiB; select fewer rows or columns (LIMIT)",
                MAX_RESULT_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_bounded() {
        let mut budget = ResultBudget::default();
        let chunk = Value::Blob(vec![0; 1024 * 1024]);
        for _ in 0..32 {
            budget.take(&chunk).unwrap();
        }
        assert!(matches!(budget.take(&Value::Integer(1)), Err(Error::Io(_))));
    }
}
