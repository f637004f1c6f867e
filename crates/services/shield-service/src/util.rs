//! Small helpers: identifiers, time formats, percent-decoding, request bodies.

use serde::de::DeserializeOwned;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};

fn random<const N: usize>() -> ApiResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| ApiError::internal("random number generator"))?;
    Ok(b)
}

fn hyphenate(hex32: &str) -> String {
    let mut out = String::with_capacity(36);
    for (i, c) in hex32.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// A random UUIDv4, lowercase with dashes.
pub(crate) fn uuid_v4() -> ApiResult<String> {
    let mut b = random::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(hyphenate(&hex::encode(b)))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) use guest_kit::time::rfc3339;

/// Parses an RFC 3339 timestamp (`2026-11-22T20:00:00.123Z`, `…+02:00`) to unix ms.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    if b.get(16) != Some(&b':') {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = s.get(start..i)?;
        let ms: String = digits.chars().chain("000".chars()).take(3).collect();
        frac_ms = ms.parse().ok()?;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            let v = oh * 3600 + om * 60;
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    secs.checked_mul(1000)?.checked_add(frac_ms)
}

use guest_kit::http::form_decode;

/// A query parameter (first occurrence, `+` as space, percent-decoded).
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k)?;
        (k == name).then(|| form_decode(v))?
    })
}

/// JSON decoding (docs/shield.md, "Design: transport"): an object (unknown keys ignored, `null` = absent), no trailing data.
///
/// Decoded straight into `T`: unknown keys are skipped without being built, so a body costs
/// about its own size in memory whatever it holds (a generic JSON value first would cost tens
/// of times the body). Only an object will do: serde's derived structs would also accept an
/// array of the field values in order.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(ApiError::parse_body());
    }
    serde_json::from_slice(body).map_err(|_| ApiError::parse_body())
}

/// `Some(s)` unless absent or empty (docs/shield.md, "Design: transport": `""` = absent for optional strings).
pub(crate) fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// A request header as UTF-8, `None` when absent, empty or not UTF-8.
pub(crate) fn header(req: &guest_kit::Request, name: &str) -> Option<String> {
    req.header_str(name)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Sets `key` on a JSON object (no-op on anything else; never panics).
pub(crate) fn set(v: &mut serde_json::Value, key: &str, value: impl Into<serde_json::Value>) {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        let t = 1_796_119_200_000;
        assert_eq!(rfc3339(t), "2026-12-01T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-12-01T10:00:00Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-12-01T12:00:00.5+02:00"), Some(t + 500));
        assert_eq!(parse_rfc3339("2026-12-01"), None);
        assert_eq!(parse_rfc3339("2026-13-01T10:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-12-01T10:00:00"), None);
    }

    #[test]
    fn ids() {
        let v4 = uuid_v4().expect("rng");
        assert_eq!(v4.len(), 36);
        assert_eq!(v4.as_bytes()[14], b'4');
        // The request id's shape (docs/shield.md, "Design: transport"): guest-kit makes it.
        let v7 = guest_kit::http::uuid_v7_hex(1_796_119_200_000);
        assert_eq!(v7.len(), 32);
        assert!(
            v7.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(v7.as_bytes()[12], b'7');
    }

    #[test]
    fn decoding() {
        assert_eq!(
            query_param(Some("x=1&reference=my%20ref"), "reference").as_deref(),
            Some("my ref")
        );
        assert_eq!(
            query_param(Some("reference=a+b%2B"), "reference").as_deref(),
            Some("a b+")
        );
        assert_eq!(query_param(None, "reference"), None);
    }
}
