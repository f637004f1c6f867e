//! shield's key material on the wire: a stored key part and a client's encryption part
//! (Shamir shares, legacy and current encodings), the key check value, and a share's
//! ciphertext under the combined key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shield_core::{Key, shamir, share_cipher};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Stored part, encryption part, key check value and ciphertext, newline-separated.
    let mut parts = text.splitn(4, '\n');
    let db_part = parts.next().unwrap_or_default();
    let encryption_part = parts.next().unwrap_or_default();
    let kcv = parts.next();
    let ciphertext = parts.next().unwrap_or_default();
    let _ = shield_core::project_key(db_part, encryption_part, kcv);
    let key =
        shamir::combine(db_part, encryption_part).unwrap_or_else(|_| Key::from_bytes([7; 32]));
    let _ = share_cipher::decrypt(&key, ciphertext);
});
