//! Server-side verification, V1–V8 (docs/keyservice.md, "Design: ss1 verification order"), as a small state machine:
//!
//! ```text
//! Verifier::begin (V1–V5) → Pending ──caller: secret for pending.keyid() (V6)──┐
//!   Pending::check_hash(secret) (V7) → Verified ──caller: atomic insert of replay_key() (V8)──┐
//!   Verified::commit(inserted) → Authenticated
//! ```
//!
//! Storage (secret lookup, replay table) is the caller's, so the crate stays I/O-free and the same
//! code serves `/connect` (keyid = namespace) and `/key` (keyid = session token). Nonces are only
//! recorded after V7 so unauthenticated traffic cannot fill the replay cache.

use core::fmt;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Reason};
use crate::parse::{Authorization, parse_authorization};
use crate::{DEFAULT_MAX_SKEW_SECONDS, MAX_SKEW_SECONDS_LIMIT, compute_hash};

/// The parts of an HTTP request that `ss1` covers. Header values are raw bytes as the host hands
/// them over; non-UTF-8 values simply fail verification.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    method: &'a str,
    path_and_query: &'a str,
    body: &'a [u8],
    authorization: Option<&'a [u8]>,
    x_date: Option<&'a [u8]>,
    date: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// `method` as sent (`PUT`, ...), `path_and_query` = the origin-form target exactly as
    /// received (no decoding or normalisation), `body` = the raw bytes.
    pub fn new(method: &'a str, path_and_query: &'a str, body: &'a [u8]) -> Self {
        Request {
            method,
            path_and_query,
            body,
            authorization: None,
            x_date: None,
            date: None,
        }
    }

    /// The `Authorization` header value, if present.
    pub fn authorization(mut self, value: Option<&'a [u8]>) -> Self {
        self.authorization = value;
        self
    }

    /// The `X-Date` header value, if present. It wins over `Date` (docs/keyservice.md, "Design: differences from sessionistheader").
    pub fn x_date(mut self, value: Option<&'a [u8]>) -> Self {
        self.x_date = value;
        self
    }

    /// The `Date` header value, if present.
    pub fn date(mut self, value: Option<&'a [u8]>) -> Self {
        self.date = value;
        self
    }
}

impl fmt::Debug for Request<'_> {
    // The body may be key material; show only its size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// `sessionist_max_skew_seconds` outside 1–86 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sessionist_max_skew_seconds must be between 1 and 86400")]
pub struct InvalidSkew;

/// Verifies `ss1` headers with a fixed date window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verifier {
    max_skew_seconds: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        }
    }
}

impl Verifier {
    /// A verifier allowing `|now − date| ≤ max_skew_seconds` (1–86 400).
    pub fn new(max_skew_seconds: u64) -> Result<Self, InvalidSkew> {
        if (1..=MAX_SKEW_SECONDS_LIMIT).contains(&max_skew_seconds) {
            Ok(Verifier { max_skew_seconds })
        } else {
            Err(InvalidSkew)
        }
    }

    /// The configured window.
    pub fn max_skew_seconds(&self) -> u64 {
        self.max_skew_seconds
    }

    /// V1–V5 at server time `now_unix_ms`. On success the caller looks up the secret for
    /// [`Pending::keyid`] (V6) and calls [`Pending::check_hash`].
    pub fn begin<'a>(&self, request: &Request<'a>, now_unix_ms: i64) -> Result<Pending<'a>, Error> {
        // V1.
        let raw = request
            .authorization
            .ok_or(Error::new(Reason::MissingHeader))?;
        // V2–V4.
        let value = core::str::from_utf8(raw).map_err(|_| Error::new(Reason::NotUtf8))?;
        let auth = parse_authorization(value)?;

        // V5: X-Date wins when present, even if it is bad (no falling back to Date, which would
        // let a client pick whichever header suits it).
        let date_raw = request
            .x_date
            .or(request.date)
            .ok_or(Error::new(Reason::MissingDate))?;
        let date =
            core::str::from_utf8(date_raw).map_err(|_| Error::new(Reason::UnparseableDate))?;
        let date_ms = parse_http_date_ms(date).ok_or(Error::new(Reason::UnparseableDate))?;
        // i128 so no clock value, however absurd, can overflow the subtraction.
        let skew_ms = (i128::from(now_unix_ms) - i128::from(date_ms)).unsigned_abs();
        if skew_ms > u128::from(self.max_skew_seconds) * 1000 {
            return Err(Error::new(Reason::DateOutsideWindow));
        }

        Ok(Pending {
            auth,
            date,
            method: request.method,
            path_and_query: request.path_and_query,
            body: request.body,
            // Entries must outlive the window in both directions: a header dated now + skew stays
            // acceptable until now + 2 × skew.
            replay_expires_at_ms: now_unix_ms.saturating_add(
                i64::try_from(self.max_skew_seconds.saturating_mul(2_000)).unwrap_or(i64::MAX),
            ),
        })
    }
}

/// Parses an HTTP-date (IMF-fixdate, RFC 850, asctime) to unix milliseconds. ISO 8601, numeric
/// zones such as `+0000` and anything else JS `Date` might accept are rejected.
fn parse_http_date_ms(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()?.checked_mul(1000)
}

/// A header that passed V1–V5; not yet authenticated.
pub struct Pending<'a> {
    auth: Authorization,
    date: &'a str,
    method: &'a str,
    path_and_query: &'a str,
    body: &'a [u8],
    replay_expires_at_ms: i64,
}

impl fmt::Debug for Pending<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("auth", &self.auth)
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

impl<'a> Pending<'a> {
    /// The claimed keyid, for the secret lookup (V6). Not authenticated yet. If the lookup finds
    /// nothing, answer with [`Error::unknown_keyid`].
    pub fn keyid(&self) -> &str {
        self.auth.keyid()
    }

    /// The parsed header.
    pub fn authorization(&self) -> &Authorization {
        &self.auth
    }

    /// V7: recomputes the HMAC with the verbatim date string and compares it with the sent hash in
    /// constant time. `secret` is used as UTF-8 text, never decoded (docs/keyservice.md, "Design: the ss1 session header").
    pub fn check_hash(self, secret: &str) -> Result<Verified, Error> {
        let expected = compute_hash(
            secret,
            self.method,
            self.path_and_query,
            self.body,
            self.date,
            self.auth.nonce(),
        )
        .ok_or(Error::new(Reason::HashMismatch))?;
        if !bool::from(expected.ct_eq(self.auth.hash())) {
            return Err(Error::new(Reason::HashMismatch));
        }
        let replay_key = nonce_replay_key(self.auth.keyid(), &self.auth.nonce_hex());
        Ok(Verified {
            auth: self.auth,
            replay_key,
            replay_expires_at_ms: self.replay_expires_at_ms,
        })
    }
}

/// A header whose hash matched (V7). Still a possible replay until the caller records the nonce.
#[must_use = "record the nonce (V8) and call commit, or the request is replayable"]
pub struct Verified {
    auth: Authorization,
    replay_key: String,
    replay_expires_at_ms: i64,
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("auth", &self.auth)
            .field("replay_expires_at_ms", &self.replay_expires_at_ms)
            .finish_non_exhaustive()
    }
}

impl Verified {
    /// Key for the replay table: [`nonce_replay_key`] of (keyid, lowercase nonce).
    pub fn replay_key(&self) -> &str {
        &self.replay_key
    }

    /// When the replay entry may be swept: now + 2 × skew (unix ms).
    pub fn replay_expires_at_ms(&self) -> i64 {
        self.replay_expires_at_ms
    }

    /// The keyid (now proven to be held by someone with its secret).
    pub fn keyid(&self) -> &str {
        self.auth.keyid()
    }

    /// The nonce as lowercase hex, for callers keying replays on something other than
    /// [`Verified::replay_key`].
    pub fn nonce_hex(&self) -> String {
        self.auth.nonce_hex()
    }

    /// V8: `newly_recorded` is whether the caller's atomic insert of [`Verified::replay_key`]
    /// created the entry (`INSERT … ON CONFLICT DO NOTHING RETURNING` gave a row). `false` means
    /// the nonce was seen before: a replay.
    pub fn commit(self, newly_recorded: bool) -> Result<Authenticated, Error> {
        if newly_recorded {
            Ok(Authenticated { auth: self.auth })
        } else {
            Err(Error::new(Reason::Replay))
        }
    }
}

/// A request that passed V1–V8.
pub struct Authenticated {
    auth: Authorization,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("auth", &self.auth)
            .finish()
    }
}

impl Authenticated {
    /// The authenticated keyid.
    pub fn keyid(&self) -> &str {
        self.auth.keyid()
    }

    /// The parsed header.
    pub fn authorization(&self) -> &Authorization {
        &self.auth
    }
}

/// Replay-table key for (keyid, nonce): lowercase hex SHA-256 over a domain label, the keyid's
/// byte length (u64 big-endian), the keyid and the nonce in lowercase hex. The length prefix
/// makes the encoding unambiguous; hashing keeps session tokens out of the table and gives a
/// fixed-size TEXT key. The nonce is lowercased here so `ABC…` and `abc…` are one nonce.
pub fn nonce_replay_key(keyid: &str, nonce_hex: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"keyward/ss1-nonce/v1\0");
    h.update((keyid.len() as u64).to_be_bytes());
    h.update(keyid.as_bytes());
    h.update(nonce_hex.to_ascii_lowercase().as_bytes());
    hex::encode(h.finalize())
}
