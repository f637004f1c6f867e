//! A share as shield's `POST /shares` body carries it, field by field, through the validator
//! that decides what may be stored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shield_core::validate::{ShareInput, validate_share};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let int = |name: &str| body.get(name).and_then(Value::as_i64);
    let input = ShareInput {
        secret: text("secret").map(Zeroizing::new),
        entropy: text("entropy"),
        salt: text("salt"),
        iterations: int("iterations"),
        length: int("length"),
        digest: text("digest"),
        encryption_part: text("encryption_part").map(Zeroizing::new),
        encryption_session: text("encryption_session"),
        reference: text("reference"),
        storage_method_id: int("storage_method_id"),
        passkey_reference: None,
    }
    .normalize();
    let _ = validate_share(&input);
});
