//! The longest value shield accepts for each free-text field it stores or echoes, in one place
//! (docs/shield.md, "Limits"). Upstream Shield bounds none of them; without bounds one anonymous
//! `/register` could store a body-sized project name, and every later read would carry it.
//!
//! Lengths are in bytes of UTF-8. Over a limit → 400 with the service's code for that kind of
//! input (`BAD_REQUEST`, or `PV_CFG_INVALID` for provider settings) and a message naming the
//! field and the limit; nothing is written.

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};

/// `POST /register` `name`.
pub(crate) const PROJECT_NAME: usize = 256;
/// Provider `publishable_key` (an Openfort key is ~40 bytes).
pub(crate) const PUBLISHABLE_KEY: usize = 256;
/// Provider `jwk` (a JWKS URL).
pub(crate) const JWK_URL: usize = 2048;
/// Provider `pem` (a public key; an RSA-8192 key in PEM is ~1.5 KiB).
pub(crate) const PEM: usize = 8192;
/// Provider `cookie_field_name`.
pub(crate) const COOKIE_FIELD_NAME: usize = 256;
/// External user ids (`external_user_id`, `user_ids[]`, `X-User-ID`, a token's subject), user
/// ids (`user_id`) and `provider_id`.
pub(crate) const USER_ID: usize = 256;
/// Share `reference` (body, bulk `references[]` and bulk `reference`).
pub(crate) const REFERENCE: usize = 256;
/// Share `keychain_id` (a UUID, 36 bytes, when valid).
pub(crate) const KEYCHAIN_ID: usize = 256;
/// `/project/otp` `email` and `phone` (docs/shield.md, "Design: OTP and 2FA").
pub(crate) const CONTACT: usize = 256;
/// Share `secret` (a Shamir share of a private key is a few hundred bytes, also encrypted).
pub(crate) const SECRET: usize = 8192;
/// Share `salt` and `digest` (user-entropy parameters).
pub(crate) const SHARE_PARAM: usize = 256;
/// `passkey_id`, and each of `name`, `os`, `osVersion`, `device` of a passkey environment.
pub(crate) const PASSKEY_FIELD: usize = 256;
// `X-Request-ID` is bounded by guest-kit's rule (`guest_kit::http::valid_request_id`): the id
// the response echoes, the audit record carries and Openfort receives is one, in every service.

/// The message of every over-limit answer.
pub(crate) fn too_long(field: &str, max: usize) -> String {
    format!("{field} must be at most {max} bytes")
}

/// 400 `BAD_REQUEST` when `value` is longer than `max`.
pub(crate) fn check(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(v) if v.len() > max => Err(ApiError::bad_request(too_long(field, max))),
        _ => Ok(()),
    }
}

/// As [`check`], for provider settings: 400 `PV_CFG_INVALID`.
pub(crate) fn check_provider(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(v) if v.len() > max => Err(ApiError::provider_config(&too_long(field, max))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `X-Request-ID` shield echoes (docs/shield.md, "Limits") is guest-kit's rule, which
    /// every service and the audit trail share.
    #[test]
    fn request_ids() {
        use guest_kit::http::{REQUEST_ID_MAX as REQUEST_ID, valid_request_id};
        assert!(valid_request_id("0190a6f27c1e7d3a9b2c5e4f3a2b1c0d"));
        assert!(valid_request_id(&"a".repeat(REQUEST_ID)));
        assert!(!valid_request_id(&"a".repeat(REQUEST_ID + 1)));
        for bad in ["", "a b", "a\tb", "a,b", "a;b", "\"a\"", "ä", "a\u{7f}"] {
            assert!(!valid_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn checks() {
        assert!(check("name", Some(&"a".repeat(256)), 256).is_ok());
        assert!(check("name", None, 256).is_ok());
        let e = check("name", Some(&"a".repeat(257)), 256).expect_err("too long");
        assert_eq!((e.status, e.code), (400, "BAD_REQUEST"));
        assert_eq!(e.message, "name must be at most 256 bytes");
        let e = check_provider("jwk", Some(&"a".repeat(9)), 8).expect_err("too long");
        assert_eq!((e.status, e.code), (400, "PV_CFG_INVALID"));
    }
}
