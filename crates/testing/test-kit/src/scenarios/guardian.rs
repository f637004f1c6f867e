//! guardian's signing vectors (guardian-core's `tests/vectors/guardian.json`) and the Hardhat
//! addresses they sign for, for the native tests and the end-to-end tests alike.

use serde_json::Value;

/// The first and third addresses of the Hardhat mnemonic ([`crate::secrets::HARDHAT_MNEMONIC`]).
pub const ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
pub const ADDR2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// Every vector.
pub fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!(
        "../../../../protocol/guardian-core/tests/vectors/guardian.json"
    ))
    .expect("vectors")
}

/// The vector called `name`.
#[track_caller]
pub fn vector(name: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// A `/guardian/sign-tx` answer `j` is the transaction vector `v`'s: raw, hash, sender and the
/// signed transaction as JSON.
#[track_caller]
pub fn assert_signed_tx(j: &Value, v: &Value) {
    assert_eq!(j["signed_tx_rlp"], v["signed_tx_rlp"]);
    assert_eq!(j["tx_hash"], v["tx_hash"]);
    assert_eq!(j["from"], v["from"]);
    let text = j["signed_tx_json"]
        .as_str()
        .expect("signed_tx_json is a string");
    let parsed: Value = serde_json::from_str(text).expect("signed_tx_json is JSON");
    assert_eq!(parsed, v["signed_tx_json"]);
}
