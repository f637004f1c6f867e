//! The `ss1` ("sessionist") `Authorization` header (docs/keyservice.md, "Design: the ss1 session
//! header").
//!
//! Wire format (upstream sessionistheader 0.1.14):
//!
//! ```text
//! Authorization: ss1 keyid=<keyid>, hash=<128 hex>, nonce=<128 hex>
//! X-Date: Tue, 01 Dec 2026 10:00:00 GMT
//! ```
//!
//! `hash = hex(HMAC-SHA512(key = UTF-8(secret), nonce_bytes ‖ METHOD ‖ path+query ‖ body ‖ date))`.
//!
//! * Client side: [`sign`] (deterministic, for vectors and tests) and [`sign_now`] / [`sign_at`]
//!   (fresh CSPRNG nonce and an IMF-fixdate, rules C1–C5).
//! * Server side: [`Verifier::begin`] runs V1–V5 and yields a [`Pending`] that exposes the keyid;
//!   the caller looks up the secret (V6), calls [`Pending::check_hash`] (V7, constant time), records
//!   the nonce under [`Verified::replay_key`] in its replay store (V8) and finishes with
//!   [`Verified::commit`]. Storage stays with the caller, so this crate does no I/O.
//! * Helpers for `/init` and `/connect`: [`init_token_hash`], [`decode_init_token_hash`],
//!   [`init_token_digest`] and [`nonce_replay_key`].
//!
//! ```
//! use sessionist::{Error, Request, Verifier, sign};
//!
//! // Client (the worked flow's vector flow-get-key, fixed nonce and date).
//! let date = "Tue, 01 Dec 2026 10:00:06 GMT";
//! let nonce = [7u8; sessionist::NONCE_BYTES];
//! let header = sign("session-token", "init-token", "GET", "/key", b"", date, &nonce)?;
//!
//! // Server.
//! let now_ms = 1_796_119_206_000; // injected clock
//! let req = Request::new("GET", "/key", b"")
//!     .authorization(Some(header.as_bytes()))
//!     .x_date(Some(date.as_bytes()));
//! let pending = Verifier::default().begin(&req, now_ms)?; // V1–V5
//! let secret = match pending.keyid() {
//!     "session-token" => "init-token", // V6: the caller's lookup
//!     _ => return Err(Error::unknown_keyid().into()),
//! };
//! let verified = pending.check_hash(secret)?; // V7
//! // V8: the caller's atomic insert (`INSERT … ON CONFLICT DO NOTHING RETURNING`).
//! let mut replay_table = std::collections::HashSet::new();
//! let inserted = replay_table.insert(verified.replay_key().to_owned());
//! let auth = verified.commit(inserted)?;
//! assert_eq!(auth.keyid(), "session-token");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod init_token;
mod parse;
mod sign;
mod verify;

pub use error::{Error, ErrorKind, Reason, SignError};
pub use init_token::{decode_init_token_hash, init_token_digest, init_token_hash};
pub use parse::{Authorization, parse_authorization};
pub use sign::{SignedRequest, format_http_date, sign, sign_at, sign_now};
pub use verify::{
    Authenticated, InvalidSkew, Pending, Request, Verified, Verifier, nonce_replay_key,
};

/// The scheme token (matched ASCII-case-insensitively by the verifier, emitted lowercase).
pub const SCHEME: &str = "ss1";
/// Bytes of a client nonce (C1); its hex form has twice as many digits.
pub const NONCE_BYTES: usize = 64;
/// Bytes of an HMAC-SHA512 output; its hex form has twice as many digits.
pub const HASH_BYTES: usize = 64;
/// Longest keyid the verifier accepts, in characters (V4).
pub const MAX_KEYID_CHARS: usize = 256;
/// Default `sessionist_max_skew_seconds` (docs/keyservice.md, "Configuration").
pub const DEFAULT_MAX_SKEW_SECONDS: u64 = 300;
/// Largest allowed `sessionist_max_skew_seconds` (docs/keyservice.md, "Configuration").
pub const MAX_SKEW_SECONDS_LIMIT: u64 = 86_400;
/// Header clients should send the date in: browsers cannot set `Date` (C2).
pub const X_DATE_HEADER: &str = "X-Date";
/// Value for `WWW-Authenticate` on every `ss1` 401 (docs/keyservice.md, "Design: ss1 verification order").
pub const WWW_AUTHENTICATE: &str = "ss1";

/// HMAC-SHA512 over the signed message (docs/keyservice.md, "Design: the ss1 session header"). Shared by the signer and the verifier so they can never
/// disagree about the message layout.
///
/// `None` only if the MAC refuses the key, which HMAC never does (it hashes long keys and pads
/// short ones); callers still treat it as a failure rather than panicking or using a default key.
pub(crate) fn compute_hash(
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    date: &str,
    nonce: &[u8; NONCE_BYTES],
) -> Option<[u8; HASH_BYTES]> {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    // Plain concatenation with no separators or length prefixes: this is what upstream signs.
    mac.update(nonce);
    mac.update(method.as_bytes());
    mac.update(path_and_query.as_bytes());
    mac.update(body);
    mac.update(date.as_bytes());
    Some(mac.finalize().into_bytes().into())
}
