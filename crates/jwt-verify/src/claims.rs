//! Registered-claim checks.

use crate::Validation;
use crate::error::Error;
use serde_json::{Map, Value};

/// Checks the claims; returns `sub`.
pub(crate) fn check(claims: &Map<String, Value>, v: &Validation, now: u64) -> Result<String, Error> {
    let _ = (claims, v, now);
    Err(Error::MissingClaim("sub"))
}
