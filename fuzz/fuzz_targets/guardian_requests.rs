//! guardian's request bodies: digests, transactions (every type, with RLP encoding and
//! hashing), EIP-7702 authorizations, personal messages and EIP-712 typed data (parsed and
//! hashed). The first byte picks the route.
#![no_main]

use guardian_core::request::{
    parse_sign_authorization_request, parse_sign_message_request, parse_sign_request,
    parse_sign_tx_request, parse_sign_typed_data_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((route, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    match route % 5 {
        0 => {
            let _ = parse_sign_request(&body);
        }
        1 => {
            if let Ok(request) = parse_sign_tx_request(&body) {
                let _ = request.tx.validate();
                let _ = request.tx.signing_payload();
                let _ = request.tx.signing_hash();
            }
        }
        2 => {
            let _ = parse_sign_authorization_request(&body);
        }
        3 => {
            let _ = parse_sign_message_request(&body);
        }
        _ => {
            if let Ok(request) = parse_sign_typed_data_request(&body) {
                let _ = request.typed_data.hashes();
            }
        }
    }
});
