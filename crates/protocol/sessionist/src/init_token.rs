//! `initTokenHash` (docs/keyservice.md, "Design: init tokens", "Design: connect" step 7).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha512};

/// SHA-512 of the init token's UTF-8 bytes. The keyservice stores the pending token under
/// `hex(init_token_digest(token))`.
pub fn init_token_digest(init_token: &str) -> [u8; 64] {
    Sha512::digest(init_token.as_bytes()).into()
}

/// `initTokenHash` as the client sends it to the Real Service: padded standard base64 (88 chars)
/// of [`init_token_digest`].
pub fn init_token_hash(init_token: &str) -> String {
    STANDARD.encode(init_token_digest(init_token))
}

/// Decodes an `initTokenHash`: exactly 88 chars of padded standard base64 or 86 chars of unpadded
/// base64url, strictly (canonical trailing bits), to 64 bytes. Everything else (hex, unpadded
/// standard base64, padded base64url, other digest sizes, whitespace) is `None`.
pub fn decode_init_token_hash(s: &str) -> Option<[u8; 64]> {
    // The length picks the one accepted encoding, so alphabets cannot be mixed: an 88-char value
    // with '-' or an 86-char value with '+' fails to decode.
    let engine = match s.len() {
        88 => &STANDARD,
        86 => &URL_SAFE_NO_PAD,
        _ => return None,
    };
    let mut out = [0u8; 64];
    // 88 padded chars can still decode to 65 or 66 bytes (one or no '='), which overflows the
    // 64-byte buffer and errors, and fewer bytes are caught by the length check.
    let n = engine.decode_slice(s, &mut out).ok()?;
    (n == out.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_STD: &str =
        "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==";
    const ABC_URL: &str =
        "3a81oZNherrMQXNJriBBMRLm-k6JqX6iCp7u5ktV05ohkpkqJ0_BqDa6PCOj_uu9RU1EI2Q86A4qmslPpUyknw";

    #[test]
    fn spec_example_abc() {
        assert_eq!(init_token_hash("abc"), ABC_STD);
        let d = init_token_digest("abc");
        assert_eq!(decode_init_token_hash(ABC_STD), Some(d));
        assert_eq!(decode_init_token_hash(ABC_URL), Some(d));
    }

    #[test]
    fn flow_example() {
        let h = init_token_hash("DfSQ-JjJyAm8vzKJbu9fVUEkxzq1pVDQksfMK_yFAZ8");
        assert_eq!(
            h,
            "5yhET74MfmM+nUseX1KZtPrN2CrwJ2rckV/430AeX83N2Q0ghZ5MHcO9phlbl4n3EbNW1rd3ZxvJ97iSGLhmzA=="
        );
        assert!(
            decode_init_token_hash(
                "5yhET74MfmM-nUseX1KZtPrN2CrwJ2rckV_430AeX83N2Q0ghZ5MHcO9phlbl4n3EbNW1rd3ZxvJ97iSGLhmzA"
            )
            .is_some()
        );
    }

    #[test]
    fn strict_rejections() {
        let d = init_token_digest("abc");
        // hex (128 chars)
        assert_eq!(decode_init_token_hash(&hex::encode(d)), None);
        // unpadded standard base64 (86 chars with '+' and '/')
        assert_eq!(decode_init_token_hash(ABC_STD.trim_end_matches('=')), None);
        // padded base64url (88 chars with '-' and '_')
        assert_eq!(decode_init_token_hash(&format!("{ABC_URL}==")), None);
        // 63-byte digest: 84 padded chars / 84 unpadded chars
        let short = &d[..63];
        assert_eq!(decode_init_token_hash(&STANDARD.encode(short)), None);
        assert_eq!(decode_init_token_hash(&URL_SAFE_NO_PAD.encode(short)), None);
        // 65/66 bytes squeezed into 88 chars
        assert_eq!(decode_init_token_hash(&STANDARD.encode([7u8; 65])), None);
        assert_eq!(decode_init_token_hash(&STANDARD.encode([7u8; 66])), None);
        // non-canonical trailing bits ('x' = 49 -> low bits set)
        let mut bad = ABC_STD.to_owned();
        bad.replace_range(85..86, "x");
        assert_eq!(decode_init_token_hash(&bad), None);
        let mut bad = ABC_URL.to_owned();
        bad.replace_range(85..86, "x");
        assert_eq!(decode_init_token_hash(&bad), None);
        // whitespace, empty, non-ASCII of the right byte length
        assert_eq!(decode_init_token_hash(&format!(" {}", &ABC_STD[1..])), None);
        assert_eq!(decode_init_token_hash(""), None);
        assert_eq!(decode_init_token_hash(&"é".repeat(44)), None);
    }
}
