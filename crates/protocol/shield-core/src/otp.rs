//! One-time passwords for 2FA and their delivery webhook (docs/shield.md, "Design: OTP and 2FA").
//!
//! - [`generate_code`]: 9 uniform decimal digits from the CSPRNG (upstream's format).
//! - [`code_digest`]: what is stored instead of the code: a salted, domain-separated SHA-256
//!   bound to the project and user; [`digest_matches`] compares digests in constant time.
//! - [`contact_digest`]: upstream's contact hash, lowercase hex SHA-512 of the address as given.
//! - [`valid_email`], [`valid_phone`]: upstream's address checks.
//! - [`sign_webhook`], [`verify_webhook`]: the `X-Keyward-Signature` scheme,
//!   `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." ‖ body)>`.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::key::{RngError, fill_random};

/// Digits of a code (upstream: 9, one in a billion per guess).
pub const CODE_DIGITS: usize = 9;
const CODE_SPACE: u32 = 1_000_000_000;
/// The largest multiple of [`CODE_SPACE`] that fits a `u32`: draws at or above it are redrawn,
/// so every code is equally likely.
const UNBIASED_BELOW: u32 = CODE_SPACE * 4;

/// Domain separation of [`code_digest`].
const CODE_DIGEST_DOMAIN: &[u8] = b"keyward/shield/otp-code/v1";

/// A fresh code: [`CODE_DIGITS`] decimal digits, zero-padded, uniform.
pub fn generate_code() -> Result<Zeroizing<String>, RngError> {
    loop {
        let mut raw = Zeroizing::new([0u8; 4]);
        fill_random(raw.as_mut_slice())?;
        let v = u32::from_be_bytes(*raw);
        if v < UNBIASED_BELOW {
            return Ok(Zeroizing::new(format!("{:09}", v % CODE_SPACE)));
        }
    }
}

/// A fresh salt for [`code_digest`], 16 random bytes as lowercase hex.
pub fn new_salt() -> Result<String, RngError> {
    let mut raw = [0u8; 16];
    fill_random(&mut raw)?;
    Ok(hex::encode(raw))
}

/// The stored form of `code` for (`project_id`, `user_id`): lowercase hex
/// `SHA-256(domain ‖ 0 ‖ salt ‖ 0 ‖ project ‖ 0 ‖ user ‖ 0 ‖ code)`.
pub fn code_digest(salt_hex: &str, project_id: &str, user_id: &str, code: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        CODE_DIGEST_DOMAIN,
        salt_hex.as_bytes(),
        project_id.as_bytes(),
        user_id.as_bytes(),
    ] {
        h.update(part);
        h.update([0u8]);
    }
    h.update(code.as_bytes());
    hex::encode(h.finalize())
}

/// Whether two digests are equal, in constant time.
pub fn digest_matches(presented: &str, stored: &str) -> bool {
    presented.as_bytes().ct_eq(stored.as_bytes()).into()
}

/// Upstream's stored contact: lowercase hex SHA-512 of the address exactly as given.
pub fn contact_digest(contact: &str) -> String {
    hex::encode(Sha512::digest(contact.as_bytes()))
}

/// Upstream's e-mail check: `local@domain.tld` with a 2+ letter TLD (surrounding spaces ignored).
pub fn valid_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

/// Upstream's phone check: after dropping everything but digits and `+`, an optional `+` with
/// 1–3 digits of country code, then 10–15 digits.
pub fn valid_phone(phone: &str) -> bool {
    let clean: String = phone
        .trim()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    match clean.strip_prefix('+') {
        None => (10..=15).contains(&clean.len()) && clean.chars().all(|c| c.is_ascii_digit()),
        Some(rest) => {
            // `+` then 1–3 country digits then 10–15 digits: 11–18 digits in all.
            (11..=18).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit())
        }
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The `X-Keyward-Signature` value for `body` sent at `timestamp` (unix seconds);
/// `None` only if the HMAC cannot be keyed (it can be with any key length).
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> Option<String> {
    let tag = mac(secret, timestamp, body)?.finalize().into_bytes();
    Some(format!("t={timestamp},v1={}", hex::encode(tag)))
}

/// A receiver's check of an `X-Keyward-Signature` header: the timestamp is within
/// `tolerance_secs` of `now_secs` and one `v1` value is the HMAC of `"<t>." ‖ body`.
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => tags.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return false;
    };
    if now_secs.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return false;
    }
    tags.iter()
        .any(|tag| mac(secret, t, body).is_some_and(|m| m.verify_slice(tag).is_ok()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn codes_are_nine_digits_and_vary() {
        let a = generate_code().unwrap();
        let b = generate_code().unwrap();
        assert_eq!(a.len(), CODE_DIGITS);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(*a, *b);
    }

    #[test]
    fn digests_bind_salt_project_user_and_code() {
        let d = code_digest("s", "p", "u", "123456789");
        assert!(digest_matches(&code_digest("s", "p", "u", "123456789"), &d));
        for other in [
            code_digest("t", "p", "u", "123456789"),
            code_digest("s", "q", "u", "123456789"),
            code_digest("s", "p", "v", "123456789"),
            code_digest("s", "p", "u", "123456780"),
        ] {
            assert!(!digest_matches(&other, &d));
        }
    }

    #[test]
    fn contact_digest_is_upstreams_sha512_hex() {
        // SHA-512("abc"), FIPS 180-2.
        assert!(contact_digest("abc").starts_with("ddaf35a193617aba"));
        assert_eq!(contact_digest("abc").len(), 128);
    }

    #[test]
    fn addresses() {
        for ok in ["a@b.co", " x.y+z@mail.example.org "] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in ["", "a@b", "@b.co", "a@b.c", "a b@c.de", "a@b.c0"] {
            assert!(!valid_email(bad), "{bad}");
        }
        for ok in ["+44 20 7946 0958", "0123456789", "+1 (555) 010-9999"] {
            assert!(valid_phone(ok), "{ok}");
        }
        for bad in ["", "12345", "+", "phone", "+12345678901234567890"] {
            assert!(!valid_phone(bad), "{bad}");
        }
    }

    #[test]
    fn webhook_signature_round_trip_and_replay_window() {
        let body = br#"{"code":"1"}"#;
        let sig = sign_webhook(b"k", 1000, body).unwrap();
        assert!(sig.starts_with("t=1000,v1="));
        assert!(verify_webhook(b"k", &sig, body, 1100, 300));
        assert!(
            !verify_webhook(b"k", &sig, body, 1400, 300),
            "replayed late"
        );
        assert!(!verify_webhook(b"other", &sig, body, 1000, 300));
        assert!(!verify_webhook(b"k", &sig, b"{}", 1000, 300));
        assert!(!verify_webhook(b"k", "v1=00", body, 1000, 300));
    }
}
