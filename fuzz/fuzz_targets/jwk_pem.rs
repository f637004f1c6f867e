//! Public keys as an operator or a provider supplies them: PEM (SPKI, X.509 certificate,
//! PKCS#1) for each key type, and a single JWK.
#![no_main]

use jwt_verify::{Jwk, KeyType, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for key_type in [KeyType::Rsa, KeyType::Ecdsa, KeyType::Ed25519] {
            let _ = PublicKey::from_pem(text, key_type);
        }
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Jwk::from_json(&json);
        let _ = PublicKey::from_jwk(&json);
    }
});
