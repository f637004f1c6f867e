//! Portable SQL as a guest sends it to a PostgreSQL-backed database: the placeholder
//! translation turns exactly the `?` placeholders into `$n` (judged by a lexer of its own here),
//! keeps every other character, and translating twice changes nothing; the schema statements and
//! transaction boundaries are read from any text without panicking.
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
        bare_question_marks(&translated),
        0,
        "a `?` placeholder was left: {sql:?} -> {translated:?}"
    );
    assert_eq!(
        translated.matches('$').count() - sql.matches('$').count(),
        bare_question_marks(sql),
        "every placeholder and nothing else becomes `$n`: {sql:?} -> {translated:?}"
    );
    assert_eq!(
        without_placeholders(&translated),
        without_placeholders(sql),
        "only placeholders may change: {sql:?} -> {translated:?}"
    );
    assert_eq!(
        translate_placeholders(&translated),
        translated,
        "translating twice changed {sql:?}"
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

/// How many `?` of `sql` are placeholders: outside string literals (`'…'`), quoted identifiers
/// (`"…"`; both escape their quote by doubling it), `--` comments and `/* */` comments, as SQLite
/// reads portable SQL. Written again here, as a state machine, to judge the translation by.
fn bare_question_marks(sql: &str) -> usize {
    enum State {
        Code,
        Quoted(u8),
        LineComment,
        BlockComment { after_star: bool },
    }
    let bytes = sql.as_bytes();
    let mut state = State::Code;
    let mut count = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        state = match state {
            State::Code => match b {
                b'\'' | b'"' => State::Quoted(b),
                b'-' if next == Some(b'-') => {
                    i += 1;
                    State::LineComment
                }
                b'/' if next == Some(b'*') => {
                    i += 1;
                    State::BlockComment { after_star: false }
                }
                b'?' => {
                    count += 1;
                    State::Code
                }
                _ => State::Code,
            },
            State::Quoted(quote) if b == quote => State::Code,
            State::LineComment if b == b'\n' => State::Code,
            State::BlockComment { after_star: true } if b == b'/' => State::Code,
            State::BlockComment { .. } => State::BlockComment {
                after_star: b == b'*',
            },
            other => other,
        };
        i += 1;
    }
    count
}
