//! Portable SQL as a guest sends it to a PostgreSQL-backed database: the placeholder
//! translation keeps every character but the placeholders, leaves no `?` placeholder behind (so
//! translating twice changes nothing), and the schema statements and transaction boundaries are
//! read from any text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_sql::{
    idempotent_ddl_target, is_wal_checkpoint, transaction_effect, translate_placeholders,
};

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let translated = translate_placeholders(sql);
    assert_eq!(
        without_placeholders(&translated),
        without_placeholders(sql),
        "only placeholders may change: {sql:?} -> {translated:?}"
    );
    assert_eq!(
        translate_placeholders(&translated),
        translated,
        "a `?` placeholder was left: {sql:?}"
    );
    let target = idempotent_ddl_target(sql);
    if let Some(name) = target {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'),
            "{name:?}"
        );
        assert!(sql.contains(name));
    }
    // The host decides on the statement as sent and runs it translated: both must agree.
    assert_eq!(idempotent_ddl_target(&translated), target, "{sql:?}");
    let _ = is_wal_checkpoint(sql);
    let _ = transaction_effect(sql);
});

/// `sql` without its placeholders: each `?` or `$` with the digits that follow it removed.
fn without_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' || c == '$' {
            while chars.next_if(char::is_ascii_digit).is_some() {}
        } else {
            out.push(c);
        }
    }
    out
}
