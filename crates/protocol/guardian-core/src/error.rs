//! One error type for the whole crate, carrying the code the component
//! returns (docs/guardian.md, "Design: error codes").

use core::fmt;

/// The codes this crate can produce (docs/guardian.md, "Design: error codes"). The component turns them into
/// `{"message","code"}` with [`ErrorCode::http_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Body is not a JSON object, or has an unknown field (a typo must not sign with defaults).
    BadRequest,
    /// The data to sign (`raw_data`, `message`, `typed_data`) is absent.
    MissingSignData,
    /// `raw_data` is not 32 bytes of hex.
    InvalidRawData,
    /// `address_index` is not an integer in 0…2^31−1.
    InvalidAddressIndex,
    /// A `sign-tx` field is invalid (the message names it).
    InvalidTx,
    /// `sign-message` input is invalid.
    InvalidMessage,
    /// `sign-typed-data` input is invalid.
    InvalidTypedData,
    /// A `sign-authorization` field is invalid (the message names it).
    InvalidAuthorization,
    /// A stored key (mnemonic) cannot be used.
    KeyUnavailable,
    /// Should not happen: RNG failure, or a signature that does not recover to its key.
    Internal,
}

impl ErrorCode {
    /// The code string (docs/guardian.md, "Design: error codes").
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::MissingSignData => "MISSING_SIGN_DATA",
            ErrorCode::InvalidRawData => "INVALID_RAW_DATA",
            ErrorCode::InvalidAddressIndex => "INVALID_ADDRESS_INDEX",
            ErrorCode::InvalidTx => "INVALID_TX",
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::InvalidTypedData => "INVALID_TYPED_DATA",
            ErrorCode::InvalidAuthorization => "INVALID_AUTHORIZATION",
            ErrorCode::KeyUnavailable => "KEY_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of the code (docs/guardian.md, "Design: error codes").
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::KeyUnavailable | ErrorCode::Internal => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its spec code and a human-readable message. Messages name fields and describe
/// what was wrong; they never contain key material (and only echo short, non-secret input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub(crate) fn invalid_tx(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTx, message)
    }

    pub(crate) fn invalid_typed_data(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTypedData, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}
