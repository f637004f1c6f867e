//! Client signer (docs/keyservice.md, "Design: the ss1 session header", rules C1–C5).

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::SignError;
use crate::parse::keyid_is_valid;
use crate::{NONCE_BYTES, compute_hash};

/// Computes the `Authorization` value for one request. Deterministic: the caller supplies the
/// date string (sent verbatim as `X-Date` or `Date`) and the nonce. Use [`sign_now`] for real
/// requests; this exists for vectors, tests and callers with their own clock and CSPRNG.
///
/// `path_and_query` and `body` must be exactly the target and bytes sent (C4).
pub fn sign(
    keyid: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    date: &str,
    nonce: &[u8; NONCE_BYTES],
) -> Result<String, SignError> {
    // C5 on top of V4: ',' would split the parameter list and '=' is truncated by upstream
    // verifiers, so such keyids never leave this library.
    if !keyid_is_valid(keyid) || keyid.contains([',', '=']) {
        return Err(SignError::InvalidKeyId);
    }
    let hash = compute_hash(secret, method, path_and_query, body, date, nonce)
        .ok_or(SignError::Internal)?;
    Ok(format!(
        "{} keyid={keyid}, hash={}, nonce={}",
        crate::SCHEME,
        hex::encode(hash),
        hex::encode(nonce)
    ))
}

/// The headers a signed request carries: `Authorization` and the date (send it as `X-Date`,
/// [`crate::X_DATE_HEADER`], which browsers allow, or as `Date`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Date` (or `Date`) header, exactly as signed.
    pub date: String,
}

impl fmt::Debug for SignedRequest {
    // The authorization value embeds the keyid, which may be a session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

/// Signs a request for "now" with a fresh 64-byte CSPRNG nonce (C1–C3). Call it once per request
/// sent, retries included.
pub fn sign_now(
    keyid: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<SignedRequest, SignError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::Clock)?;
    sign_at(keyid, secret, method, path_and_query, body, now.as_secs())
}

/// Like [`sign_now`] with an injected clock (unix seconds), for tests and hosts with their own
/// time source. The nonce is still fresh CSPRNG output.
pub fn sign_at(
    keyid: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    unix_seconds: u64,
) -> Result<SignedRequest, SignError> {
    let date = format_http_date(unix_seconds).ok_or(SignError::Clock)?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|_| SignError::Random)?;
    let authorization = sign(keyid, secret, method, path_and_query, body, &date, &nonce)?;
    Ok(SignedRequest {
        authorization,
        date,
    })
}

/// Formats unix seconds as an IMF-fixdate (`Tue, 01 Dec 2026 10:00:00 GMT`, C2). `None` past
/// year 9999, which an HTTP-date cannot express.
pub fn format_http_date(unix_seconds: u64) -> Option<String> {
    // 9999-12-31T23:59:59Z; httpdate would panic formatting a later year.
    const MAX: u64 = 253_402_300_799;
    if unix_seconds > MAX {
        return None;
    }
    let t = UNIX_EPOCH.checked_add(Duration::from_secs(unix_seconds))?;
    Some(httpdate::fmt_http_date(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(
            format_http_date(1_796_119_200).unwrap(),
            "Tue, 01 Dec 2026 10:00:00 GMT"
        );
        assert_eq!(
            format_http_date(0).unwrap(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            format_http_date(253_402_300_799).unwrap(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert!(format_http_date(253_402_300_800).is_none());
        assert!(format_http_date(u64::MAX).is_none());
    }

    #[test]
    fn rejects_c5_keyids() {
        let n = [0u8; NONCE_BYTES];
        for bad in ["", "a,b", "a=b", " a", "a ", "a\tb", "a\nb"] {
            assert_eq!(
                sign(bad, "s", "GET", "/", b"", "d", &n),
                Err(SignError::InvalidKeyId),
                "{bad:?}"
            );
        }
        assert!(sign("a b", "s", "GET", "/", b"", "d", &n).is_ok());
    }

    #[test]
    fn sign_at_uses_fresh_nonces() {
        let a = sign_at("k", "s", "GET", "/key", b"", 1_796_119_200).unwrap();
        let b = sign_at("k", "s", "GET", "/key", b"", 1_796_119_200).unwrap();
        assert_eq!(a.date, "Tue, 01 Dec 2026 10:00:00 GMT");
        assert_ne!(a.authorization, b.authorization);
        assert!(!format!("{a:?}").contains("keyid"));
    }
}
