//! Sealed values as read back from storage (a tampered or truncated row): every envelope
//! version opened under a keyring, and master keys as an operator configures them.
#![no_main]

use envelope::{Keyring, MasterKey, Sealer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = MasterKey::parse(text);
    let _ = Keyring::parse(text, text);
    let keyring = Keyring::new(
        MasterKey::from_bytes([1; 32]),
        vec![MasterKey::from_bytes([2; 32])],
    );
    if let Ok(sealer) = Sealer::with_keyring(&keyring, b"keyward/fuzz") {
        let _ = sealer.is_current(text);
        let _ = sealer.open(text, b"aad");
    }
});
