//! The `ss1` Authorization header, the `Date` / `X-Date` values and the init-token hash, as a
//! client sends them: parsed alone, then through the whole verification up to the HMAC check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionist::{Request, Verifier, decode_init_token_hash, parse_authorization};

/// 2026-01-01T00:00:00Z: the verifier's clock (the date check must never depend on the real one).
const NOW_MS: i64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_authorization(text);
        let _ = decode_init_token_hash(text);
    }
    // Header, X-Date, Date and body, newline-separated.
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let header = parts.next();
    let x_date = parts.next();
    let date = parts.next();
    let body = parts.next().unwrap_or_default();
    let Ok(verifier) = Verifier::new(300) else {
        return;
    };
    let request = Request::new("PUT", "/key?x=1", body)
        .authorization(header)
        .x_date(x_date)
        .date(date);
    if let Ok(pending) = verifier.begin(&request, NOW_MS) {
        let _ = pending.check_hash("secret");
    }
});
