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

/// guardian's tables as they were before token chains had ids (marker `gd_schema_1`), for the
/// tests of the migration that adds `gd_token.chain_id` (docs/guardian.md, "Storage").
pub const SCHEMA_BEFORE_CHAIN_IDS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gd_user (user_id TEXT PRIMARY KEY, mnemonic_ct TEXT NOT NULL, \
     address0 TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_token (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
     kind TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
     chain_started_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gd_token_expires ON gd_token (expires_at)",
    "CREATE TABLE IF NOT EXISTS gd_config (name TEXT PRIMARY KEY, value TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_id_token (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_export_log (user_id TEXT NOT NULL, exported_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_schema_1 (complete INTEGER NOT NULL)",
];
