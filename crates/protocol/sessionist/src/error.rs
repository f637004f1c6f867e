//! Errors. Externally a verification failure is one of two kinds (docs/keyservice.md, "Design: ss1 verification order"): the date message or the
//! generic "authentication failed", so a bad header, an unknown keyid, a bad hash and a replay look
//! alike to the client. The finer [`Reason`] exists for tests and server-side logs; it never
//! carries secrets, keyids, nonces or hashes.

use core::fmt;

/// The two externally visible failure kinds (docs/keyservice.md, "Design: ss1 verification order").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// V5: the date header is missing, unparseable or outside the window.
    Date,
    /// Every other step (V1–V4, V6–V8).
    Auth,
}

impl ErrorKind {
    /// The message for the 401 body (docs/keyservice.md, "Design: ss1 verification order").
    pub const fn message(self) -> &'static str {
        match self {
            ErrorKind::Date => "request date missing, unparseable or outside the allowed window",
            ErrorKind::Auth => "authentication failed",
        }
    }
}

/// Why verification failed, finer than [`ErrorKind`]. For tests and logs only: responses must use
/// [`Error::message`] so that every `Auth` failure is indistinguishable to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// V1: no `Authorization` header.
    MissingHeader,
    /// V2: the value is not UTF-8.
    NotUtf8,
    /// V2: the value itself starts with `Authorization:` (a client pasted the whole line).
    HeaderNamePrefix,
    /// V2: the scheme is not `ss1` followed by a space.
    WrongScheme,
    /// V3: an empty part (e.g. a trailing comma) or a part without `=`.
    MalformedParameter,
    /// V3: a parameter other than keyid, hash and nonce.
    UnknownParameter,
    /// V3: a parameter given twice.
    DuplicateParameter,
    /// V3: keyid, hash or nonce absent.
    MissingParameter,
    /// V4: keyid empty, too long, with control characters or surrounding blanks.
    InvalidKeyId,
    /// V4: hash is not exactly 128 hex digits.
    InvalidHash,
    /// V4: nonce is not exactly 128 hex digits.
    InvalidNonce,
    /// V5: neither `X-Date` nor `Date`.
    MissingDate,
    /// V5: the date is not an HTTP-date (IMF-fixdate, RFC 850 or asctime).
    UnparseableDate,
    /// V5: the date is further from the server clock than the allowed skew.
    DateOutsideWindow,
    /// V6: the caller found no secret for the keyid (reported via [`Error::unknown_keyid`]).
    UnknownKeyId,
    /// V7: the hash does not match.
    HashMismatch,
    /// V8: the (keyid, nonce) pair was seen before.
    Replay,
}

/// A verification failure. `Display` prints only the public message of its kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{}", self.message())]
pub struct Error {
    reason: Reason,
}

impl Error {
    pub(crate) const fn new(reason: Reason) -> Self {
        Error { reason }
    }

    /// For callers whose V6 lookup found nothing (unknown namespace, unknown or expired session):
    /// yields the same public error as every other authentication failure.
    pub const fn unknown_keyid() -> Self {
        Error::new(Reason::UnknownKeyId)
    }

    /// The externally visible kind.
    pub const fn kind(&self) -> ErrorKind {
        match self.reason {
            Reason::MissingDate | Reason::UnparseableDate | Reason::DateOutsideWindow => {
                ErrorKind::Date
            }
            _ => ErrorKind::Auth,
        }
    }

    /// The message for the 401 body.
    pub const fn message(&self) -> &'static str {
        self.kind().message()
    }

    /// The finer reason, for tests and server logs only (never send it to the client).
    pub const fn reason(&self) -> Reason {
        self.reason
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("reason", &self.reason)
            .finish()
    }
}

/// Why the client signer refused to produce a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The keyid breaks C5 (or V4): empty, over 256 characters, control characters, `,` or `=`,
    /// or leading/trailing blanks. Such a header would not verify, or would verify ambiguously.
    #[error("keyid is not valid for an ss1 header")]
    InvalidKeyId,
    /// The operating system's CSPRNG failed; no nonce can be made safely.
    #[error("the system random number generator failed")]
    Random,
    /// The system clock is before 1970 or past what an HTTP-date can express.
    #[error("the system clock is out of range")]
    Clock,
    /// The MAC could not be computed (not expected with HMAC).
    #[error("the ss1 hash could not be computed")]
    Internal,
}
