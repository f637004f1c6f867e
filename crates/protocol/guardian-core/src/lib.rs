//! guardian's signing core: everything guardian does with keys that does not touch storage or
//! HTTP, as a pure-Rust library that builds natively (for unit tests) and for `wasm32-wasip2`
//! (for the `guardian-*` components).
//!
//! Design: docs/guardian.md, "Design: conventions" (input conventions), "Design: keys" and
//! "Design: signing routes"; its vectors are item 1 of the "Conformance checklist". The route helpers in [`request`] take the parsed JSON body and return either a typed
//! request or an [`Error`] whose [`ErrorCode`] is the spec's error code, so a component only maps
//! `Error` to `{"message","code"}` and never re-implements validation.
//!
//! Secrets ([`Mnemonic`], [`PrivateKey`], seeds) are zeroised on drop and redacted from `Debug`;
//! no error message ever contains key material.

pub mod address;
pub mod authorization;
pub mod eip191;
pub mod eip712;
pub mod error;
pub mod hd;
pub mod hex;
pub mod int;
pub mod keccak;
pub mod keys;
pub mod policy;
pub mod request;
pub mod rlp;
pub mod tx;
pub mod u256;

pub use address::Address;
pub use authorization::{Authorization, SignedAuthorization, sign_authorization};
pub use eip191::{personal_message_hash, sign_personal_message};
pub use eip712::{TypedData, TypedDataHashes, sign_typed_data};
pub use error::{Error, ErrorCode};
pub use hd::{MAX_ADDRESS_INDEX, Mnemonic, hd_path};
pub use keccak::keccak256;
pub use keys::{PrivateKey, RecoverableSignature, recover_address, recover_public_key};
pub use tx::{AccessListItem, SignedTx, TxRequest, TxType, sign_tx};
pub use u256::U256;
