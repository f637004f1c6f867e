//! The request id: one per request, printed in the access log (`request_id`) and handed to the
//! guest in `x-request-id`, so a service can put the same id in what it records (shield echoes
//! it; audit records carry it).
//!
//! The client's `x-request-id` is kept when it is acceptable by the rule shield already applies
//! to the ids it echoes (docs/shield.md, "Limits": 1 to 128 bytes of `A-Z a-z 0-9 - _ . : + / = @`),
//! so shield echoes every id it echoed before the host set one; anything else (absent, longer,
//! spaces, quotes, control or non-ASCII bytes, or the header sent twice) is replaced by a fresh
//! random id of 32 lowercase hex characters, a shape shield accepts as well.

use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// The header the id travels in, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept (shield's `limits::REQUEST_ID`).
pub const MAX_LEN: usize = 128;

/// Whether a client's id is kept as the request's id.
pub fn acceptable(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@')
        })
}

/// The request's id: the client's one when it sent exactly one acceptable `x-request-id`, else a
/// fresh one. The value is ready to be set as a header (a kept id is shared, not copied).
pub fn of(headers: &HeaderMap) -> HeaderValue {
    let mut sent = headers.get_all(HEADER).iter();
    match (sent.next(), sent.next()) {
        (Some(value), None) if acceptable(value.as_bytes()) => value.clone(),
        _ => fresh(),
    }
}

/// 128 random bits as 32 lowercase hex characters.
pub fn fresh() -> HeaderValue {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The kernel's generator does not fail once the system is up; should it, ids stay unique
        // within this process (a counter mixed with the clock), which is all a request id needs.
        static FALLBACK: AtomicU64 = AtomicU64::new(0);
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (u128::from(n) ^ nanos.rotate_left(64)).to_be_bytes();
    }
    let mut text = [0u8; 32];
    hex_into(&bytes, &mut text);
    // Lowercase hex is always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        if let [hi, lo] = pair {
            *hi = DIGITS.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
            *lo = DIGITS.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn is_fresh(v: &HeaderValue) -> bool {
        v.len() == 32
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    }

    #[test]
    fn keeps_what_shield_echoes_and_replaces_the_rest() {
        for kept in [
            "req-42",
            "0190a6f2-7c1e-7d3a-9b2c-5e4f3a2b1c0d",
            "a:b+c/d=e@f.g_h",
            &"r".repeat(MAX_LEN),
        ] {
            assert_eq!(of(&headers(&[kept])), kept);
        }
        for replaced in ["", "a b", "a,b", "\"a\"", "a;b", &"r".repeat(MAX_LEN + 1)] {
            let id = of(&headers(&[replaced]));
            assert!(is_fresh(&id), "{replaced:?} → {id:?}");
        }
        assert!(is_fresh(&of(&headers(&[]))));
        // Sent twice: neither is the request's id.
        assert!(is_fresh(&of(&headers(&["a", "b"]))));
        let non_ascii = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        let mut h = HeaderMap::new();
        h.insert(HEADER, non_ascii);
        assert!(is_fresh(&of(&h)));
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(fresh(), fresh());
    }
}
