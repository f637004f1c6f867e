//! Portable SQL as PostgreSQL needs it: what the host's PostgreSQL backend learns from a
//! statement's text alone, before it reaches the server.
//!
//! Components send the portable SQL of docs/platform.md, "Design: portable SQL" unchanged. The
//! text comes from a guest, so every function here takes any string and answers without
//! panicking (fuzzed: docs/RELIABILITY.md, "Fuzzing the parsers").

/// `?` → `$1, $2, …`, leaving string literals, quoted identifiers and comments alone.
/// (`?NNN` numbered placeholders keep their number.)
pub fn translate_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // Quotes escape themselves by doubling, which this loop handles naturally.
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                // The opening `*` cannot also close the comment: `/*/` leaves it open.
                out.extend(chars.next());
                let mut prev = '\0';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The object named by `CREATE [UNIQUE] TABLE|INDEX IF NOT EXISTS <name> …`, if `sql` is such a
/// statement with an unquoted name.
pub fn idempotent_ddl_target(sql: &str) -> Option<&str> {
    let mut words = sql.split_ascii_whitespace();
    let mut word = words.next()?;
    if !word.eq_ignore_ascii_case("CREATE") {
        return None;
    }
    word = words.next()?;
    if word.eq_ignore_ascii_case("UNIQUE") {
        word = words.next()?;
    }
    if !(word.eq_ignore_ascii_case("TABLE") || word.eq_ignore_ascii_case("INDEX")) {
        return None;
    }
    for expected in ["IF", "NOT", "EXISTS"] {
        if !words.next()?.eq_ignore_ascii_case(expected) {
            return None;
        }
    }
    let raw = words.next()?;
    let name = raw.split('(').next()?;
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    plain.then_some(name)
}

/// `PRAGMA wal_checkpoint` (any mode): the one SQLite statement the services send that has no
/// PostgreSQL counterpart.
pub fn is_wal_checkpoint(sql: &str) -> bool {
    let compact: String = sql
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(22)
        .collect::<String>()
        .to_ascii_lowercase();
    compact.starts_with("pragmawal_checkpoint")
}

/// Whether `sql` opens (`Some(true)`) or ends (`Some(false)`) a transaction. `ROLLBACK TO
/// [SAVEPOINT] name` undoes one step and leaves the transaction open (shield runs its steps as
/// savepoints inside the request's transaction).
pub fn transaction_effect(sql: &str) -> Option<bool> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    let word = |i: usize| words.get(i).map(String::as_str);
    match word(0)? {
        "BEGIN" => Some(true),
        "START" if word(1) == Some("TRANSACTION") => Some(true),
        "COMMIT" | "END" => Some(false),
        "ROLLBACK" => {
            let to = match word(1) {
                Some("WORK" | "TRANSACTION") => word(2),
                other => other,
            };
            (to != Some("TO")).then_some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_to_a_savepoint_keeps_the_transaction_open() {
        for (sql, effect) in [
            ("BEGIN", Some(true)),
            ("begin transaction", Some(true)),
            ("START TRANSACTION", Some(true)),
            ("COMMIT", Some(false)),
            ("END;", Some(false)),
            ("ROLLBACK", Some(false)),
            ("rollback work", Some(false)),
            ("ROLLBACK TO shield_step", None),
            ("ROLLBACK TO SAVEPOINT s", None),
            ("rollback transaction to s", None),
            ("SAVEPOINT s", None),
            ("RELEASE s", None),
            ("ENDPOINTS", None),
            ("SELECT 1", None),
        ] {
            assert_eq!(transaction_effect(sql), effect, "{sql}");
        }
    }

    use super::translate_placeholders as t;

    #[test]
    fn placeholders() {
        assert_eq!(t("SELECT ? , ?"), "SELECT $1 , $2");
        assert_eq!(t("SELECT '?' , ?"), "SELECT '?' , $1");
        assert_eq!(t("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
        assert_eq!(
            t("SELECT \"a?\" FROM t WHERE x = ? -- why?\n AND y = ?"),
            "SELECT \"a?\" FROM t WHERE x = $1 -- why?\n AND y = $2"
        );
        assert_eq!(t("/* ? */ SELECT ?"), "/* ? */ SELECT $1");
        assert_eq!(t("SELECT ?2, ?1"), "SELECT $2, $1");
    }

    /// Found by the `pg_sql` fuzz target (`/*/?`): the opening `*` of a comment also closed it,
    /// so a `?` inside `/*/ … */` became a `$n` that PostgreSQL never saw, and the next
    /// placeholder a number with no parameter before it.
    #[test]
    fn a_comment_opened_by_slash_star_slash_stays_open() {
        assert_eq!(t("/*/?"), "/*/?");
        assert_eq!(t("SELECT /*/ ? */ ?"), "SELECT /*/ ? */ $1");
        assert_eq!(t("/**/ ?"), "/**/ $1");
        assert_eq!(t("/***/ ?"), "/***/ $1");
    }

    #[test]
    fn idempotent_ddl() {
        use super::idempotent_ddl_target as d;
        assert_eq!(
            d("CREATE TABLE IF NOT EXISTS ks_key (a TEXT)"),
            Some("ks_key")
        );
        assert_eq!(d("create table if not exists t(a TEXT)"), Some("t"));
        assert_eq!(d("CREATE INDEX IF NOT EXISTS i ON t (a)"), Some("i"));
        assert_eq!(d("CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a)"), Some("i"));
        assert_eq!(d("  CREATE\n TABLE IF NOT EXISTS\tt (a)"), Some("t"));
        assert_eq!(d("CREATE TABLE t (a TEXT)"), None);
        assert_eq!(d("CREATE TABLE IF NOT EXISTS \"T\" (a TEXT)"), None);
        assert_eq!(d("SELECT 1"), None);
        assert_eq!(d("CREATE VIEW IF NOT EXISTS v AS SELECT 1"), None);
    }
}
