//! Legacy (EIP-155), EIP-2930, EIP-1559 and EIP-7702 transactions: request validation, RLP,
//! signing, and the `signed_tx_json` object of `/guardian/sign-tx` (docs/guardian.md, "Design:
//! signing routes").

use crate::address::Address;
use crate::authorization::{AuthorizationJson, SignedAuthorization, parse_signed_authorization};
use crate::error::Error;
use crate::int::{IntError, parse_u64, parse_u256};
use crate::keccak::keccak256;
use crate::keys::PrivateKey;
use crate::rlp;
use crate::u256::U256;
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest chain id guardian signs for: keeps the EIP-155 `v = recid + 35 + 2·chain_id` in u64.
pub const MAX_CHAIN_ID: u64 = 9_223_372_036_854_775_771;

/// Body fields of `/guardian/sign-tx`, besides `address_index`.
pub const TX_FIELDS: &[&str] = &[
    "nonce",
    "gas_limit",
    "to",
    "amount",
    "data",
    "chain_id",
    "tx_type",
    "gas_price",
    "max_fee_per_gas",
    "max_priority_fee_per_gas",
    "access_list",
    "authorization_list",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxType {
    /// Type 0, signed with EIP-155 replay protection.
    Legacy,
    /// Type 1 (EIP-2930): a legacy gas price and an access list.
    Eip2930,
    /// Type 2 (EIP-1559).
    Eip1559,
    /// Type 4 (EIP-7702): EIP-1559 fees and a list of signed authorizations.
    Eip7702,
}

impl TxType {
    /// The EIP-2718 type number (0 for legacy).
    pub fn number(self) -> u8 {
        match self {
            TxType::Legacy => 0,
            TxType::Eip2930 => 1,
            TxType::Eip1559 => 2,
            TxType::Eip7702 => 4,
        }
    }

    /// Whether the fees are `max_fee_per_gas` and `max_priority_fee_per_gas` (else `gas_price`).
    fn dynamic_fee(self) -> bool {
        matches!(self, TxType::Eip1559 | TxType::Eip7702)
    }
}

/// One EIP-2930 access-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessListItem {
    pub address: Address,
    pub storage_keys: Vec<[u8; 32]>,
}

/// A validated transaction request. Fields that do not apply to `tx_type` are zero/empty
/// ([`TxRequest::validate`] enforces it for hand-built values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRequest {
    pub tx_type: TxType,
    pub chain_id: u64,
    pub nonce: u64,
    pub gas_limit: u64,
    /// `None` = contract creation.
    pub to: Option<Address>,
    pub amount: U256,
    pub data: Vec<u8>,
    /// Types 0 and 1.
    pub gas_price: U256,
    /// Types 2 and 4.
    pub max_fee_per_gas: U256,
    /// Types 2 and 4.
    pub max_priority_fee_per_gas: U256,
    /// Types 1, 2 and 4.
    pub access_list: Vec<AccessListItem>,
    /// Type 4 only, and not empty there.
    pub authorization_list: Vec<SignedAuthorization>,
}

/// A signed transaction and everything `/guardian/sign-tx` returns about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The signed encoding (after its EIP-2718 type byte for types 1, 2 and 4).
    pub raw: Vec<u8>,
    /// keccak256 of `raw`.
    pub hash: [u8; 32],
    /// The digest that was signed.
    pub signing_hash: [u8; 32],
    pub from: Address,
    /// EIP-155 `v` for legacy; the y-parity for types 1, 2 and 4.
    pub v: u64,
    pub r: U256,
    pub s: U256,
    pub y_parity: u8,
    /// `signed_tx_json`: a JSON object serialised to a string, as the original plugin returned.
    pub json: String,
}

impl SignedTx {
    /// `signed_tx_rlp`: `0x` + hex of [`SignedTx::raw`].
    pub fn raw_hex(&self) -> String {
        crate::hex::encode(&self.raw)
    }

    /// `tx_hash`: `0x` + hex of [`SignedTx::hash`].
    pub fn hash_hex(&self) -> String {
        crate::hex::encode(&self.hash)
    }
}

fn field_err(field: &str, why: impl core::fmt::Display) -> Error {
    Error::invalid_tx(format!("{field} {why}"))
}

/// A present, non-null field.
fn get<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn u64_field(obj: &Map<String, Value>, field: &str) -> Result<Option<u64>, Error> {
    int_field(obj, field, parse_u64, "must fit in 64 bits")
}

fn u256_field(obj: &Map<String, Value>, field: &str) -> Result<Option<U256>, Error> {
    int_field(obj, field, parse_u256, "must be below 2^256")
}

/// An optional integer field; `out_of_range` words the one error that depends on the width.
fn int_field<T>(
    obj: &Map<String, Value>,
    field: &str,
    parse: fn(&Value) -> Result<T, IntError>,
    out_of_range: &str,
) -> Result<Option<T>, Error> {
    get(obj, field)
        .map(|v| {
            parse(v).map_err(|e| match e {
                IntError::OutOfRange => field_err(field, out_of_range),
                e => field_err(field, e),
            })
        })
        .transpose()
}

fn parse_address_field(v: &Value, field: &str) -> Result<Address, Error> {
    let s = v
        .as_str()
        .ok_or_else(|| field_err(field, "must be an address string"))?;
    Address::parse(s).map_err(|e| field_err(field, e))
}

fn parse_access_list(v: &Value) -> Result<Vec<AccessListItem>, Error> {
    let items = v
        .as_array()
        .ok_or_else(|| field_err("access_list", "must be an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("access_list[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| field_err(&name, "must be an object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "address" | "storage_keys" | "storageKeys"))
        {
            return Err(field_err(&name, format!("has unknown field {k:?}")));
        }
        if obj.contains_key("storage_keys") && obj.contains_key("storageKeys") {
            return Err(field_err(&name, "has both storage_keys and storageKeys"));
        }
        let address = match obj.get("address") {
            Some(a) => parse_address_field(a, &format!("{name}.address"))?,
            None => return Err(field_err(&name, "is missing address")),
        };
        let keys = match obj.get("storage_keys").or_else(|| obj.get("storageKeys")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(keys)) => {
                let mut parsed = Vec::with_capacity(keys.len());
                for (j, k) in keys.iter().enumerate() {
                    let kname = format!("{name}.storage_keys[{j}]");
                    let s = k
                        .as_str()
                        .ok_or_else(|| field_err(&kname, "must be a hex string"))?;
                    let key: [u8; 32] = crate::hex::decode_fixed(s)
                        .map_err(|_| field_err(&kname, "must be 32 bytes of hex"))?;
                    parsed.push(key);
                }
                parsed
            }
            Some(_) => return Err(field_err(&name, "storage_keys must be an array")),
        };
        out.push(AccessListItem {
            address,
            storage_keys: keys,
        });
    }
    Ok(out)
}

/// `authorization_list` (type 4): an array of signed authorizations, each one EIP-7702 would
/// accept (docs/guardian.md, "Design: signing routes", "Authorizations").
fn parse_authorization_list(v: &Value) -> Result<Vec<SignedAuthorization>, Error> {
    let items = v
        .as_array()
        .ok_or_else(|| field_err("authorization_list", "must be an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (signed, _authority) =
            parse_signed_authorization(item, &format!("authorization_list[{i}]"))?;
        out.push(signed);
    }
    Ok(out)
}

impl TxRequest {
    /// Parses and validates the transaction fields of a `/guardian/sign-tx` body (`guardian.md`
    /// docs/guardian.md, "Design: signing routes"). A null field counts as absent. Unknown fields are rejected (`BAD_REQUEST`) except
    /// `address_index`, which the caller reads.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, Error> {
        if let Some(k) = obj
            .keys()
            .find(|k| k.as_str() != "address_index" && !TX_FIELDS.contains(&k.as_str()))
        {
            return Err(Error::bad_request(format!("unknown field {k:?}")));
        }
        let nonce = u64_field(obj, "nonce")?.ok_or_else(|| field_err("nonce", "is required"))?;
        let gas_limit =
            u64_field(obj, "gas_limit")?.ok_or_else(|| field_err("gas_limit", "is required"))?;
        let to = get(obj, "to")
            .map(|v| parse_address_field(v, "to"))
            .transpose()?;
        let amount = u256_field(obj, "amount")?.unwrap_or(U256::ZERO);
        let data = match get(obj, "data") {
            None => Vec::new(),
            Some(Value::String(s)) => {
                crate::hex::decode(s).map_err(|e| field_err("data", format!("is not hex: {e}")))?
            }
            Some(_) => return Err(field_err("data", "must be a hex string")),
        };
        let chain_id = u64_field(obj, "chain_id")?.unwrap_or(1);
        let gas_price = u256_field(obj, "gas_price")?;
        let max_fee = u256_field(obj, "max_fee_per_gas")?;
        let max_priority = u256_field(obj, "max_priority_fee_per_gas")?;
        let access_list = get(obj, "access_list").map(parse_access_list).transpose()?;
        let authorization_list = get(obj, "authorization_list")
            .map(parse_authorization_list)
            .transpose()?;
        // Types 1 and 4 are only ever chosen explicitly; without tx_type a 1559 fee field means
        // type 2, else legacy.
        let tx_type = match u64_field(obj, "tx_type")? {
            Some(0) => TxType::Legacy,
            Some(1) => TxType::Eip2930,
            Some(2) => TxType::Eip1559,
            Some(4) => TxType::Eip7702,
            Some(_) => return Err(field_err("tx_type", "must be 0, 1, 2 or 4")),
            None if max_fee.is_some() || max_priority.is_some() => TxType::Eip1559,
            None => TxType::Legacy,
        };
        let n = tx_type.number();
        if authorization_list.is_some() && tx_type != TxType::Eip7702 {
            return Err(field_err(
                "authorization_list",
                format!("is only allowed with tx_type 4, not {n}"),
            ));
        }
        if access_list.is_some() && tx_type == TxType::Legacy {
            return Err(field_err(
                "access_list",
                "is only allowed with tx_type 1, 2 or 4, not 0",
            ));
        }
        // The fee fields of each type; the other kind's must be absent.
        let (gas_price, max_fee_per_gas, max_priority_fee_per_gas) = if tx_type.dynamic_fee() {
            if gas_price.is_some() {
                return Err(field_err(
                    "gas_price",
                    format!("is only allowed with tx_type 0 or 1, not {n}; use max_fee_per_gas"),
                ));
            }
            (
                U256::ZERO,
                max_fee.ok_or_else(|| {
                    field_err("max_fee_per_gas", format!("is required for tx_type {n}"))
                })?,
                max_priority.ok_or_else(|| {
                    field_err(
                        "max_priority_fee_per_gas",
                        format!("is required for tx_type {n}"),
                    )
                })?,
            )
        } else {
            if max_fee.is_some() || max_priority.is_some() {
                return Err(Error::invalid_tx(format!(
                    "max_fee_per_gas and max_priority_fee_per_gas are for tx_type 2 or 4, not {n}"
                )));
            }
            let gas_price = match (tx_type, gas_price) {
                (TxType::Eip2930, None) => {
                    return Err(field_err("gas_price", "is required for tx_type 1"));
                }
                (_, p) => p.unwrap_or(U256::ZERO),
            };
            (gas_price, U256::ZERO, U256::ZERO)
        };
        let access_list = access_list.unwrap_or_default();
        let authorization_list = authorization_list.unwrap_or_default();
        let tx = TxRequest {
            tx_type,
            chain_id,
            nonce,
            gas_limit,
            to,
            amount,
            data,
            gas_price,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            access_list,
            authorization_list,
        };
        tx.validate()?;
        Ok(tx)
    }

    /// Cross-field rules: chain id range, creation needs data (and is not possible with type
    /// 4), priority fee ≤ max fee, each type's fields only (docs/guardian.md, "Design: signing
    /// routes"), and a non-empty authorization list exactly on type 4.
    pub fn validate(&self) -> Result<(), Error> {
        if self.chain_id == 0 || self.chain_id > MAX_CHAIN_ID {
            return Err(field_err("chain_id", format!("must be 1..={MAX_CHAIN_ID}")));
        }
        if self.to.is_none() && self.tx_type == TxType::Eip7702 {
            return Err(field_err(
                "to",
                "is required for tx_type 4 (EIP-7702 has no contract creation)",
            ));
        }
        if self.to.is_none() && self.data.is_empty() {
            return Err(field_err(
                "data",
                "must not be empty for a contract creation (no \"to\")",
            ));
        }
        let n = self.tx_type.number();
        if self.tx_type == TxType::Legacy && !self.access_list.is_empty() {
            return Err(field_err("access_list", "is not allowed with tx_type 0"));
        }
        match (self.tx_type, self.authorization_list.is_empty()) {
            (TxType::Eip7702, true) => {
                return Err(field_err(
                    "authorization_list",
                    "is required for tx_type 4 and must not be empty",
                ));
            }
            (TxType::Eip7702, false) | (_, true) => {}
            (_, false) => {
                return Err(field_err(
                    "authorization_list",
                    format!("is only allowed with tx_type 4, not {n}"),
                ));
            }
        }
        if self.tx_type.dynamic_fee() {
            if !self.gas_price.is_zero() {
                return Err(field_err(
                    "gas_price",
                    format!("is only allowed with tx_type 0 or 1, not {n}"),
                ));
            }
            if self.max_priority_fee_per_gas > self.max_fee_per_gas {
                return Err(field_err(
                    "max_priority_fee_per_gas",
                    "must not exceed max_fee_per_gas",
                ));
            }
        } else if !self.max_fee_per_gas.is_zero() || !self.max_priority_fee_per_gas.is_zero() {
            return Err(Error::invalid_tx(format!(
                "max_fee_per_gas and max_priority_fee_per_gas are for tx_type 2 or 4, not {n}"
            )));
        }
        Ok(())
    }

    /// RLP items shared by the unsigned and signed forms, before the signature/EIP-155 fields:
    ///
    /// - type 0: `nonce, gasPrice, gasLimit, to, value, data`
    /// - type 1: `chainId, nonce, gasPrice, gasLimit, to, value, data, accessList`
    /// - type 2: `chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
    ///   accessList`
    /// - type 4: as type 2, then `authorizationList`
    fn body_items(&self, out: &mut Vec<u8>) {
        let to: &[u8] = match &self.to {
            Some(a) => a.as_bytes(),
            None => &[],
        };
        if self.tx_type != TxType::Legacy {
            rlp::encode_u64(out, self.chain_id);
        }
        rlp::encode_u64(out, self.nonce);
        if self.tx_type.dynamic_fee() {
            rlp::encode_uint(out, &self.max_priority_fee_per_gas);
            rlp::encode_uint(out, &self.max_fee_per_gas);
        } else {
            rlp::encode_uint(out, &self.gas_price);
        }
        rlp::encode_u64(out, self.gas_limit);
        rlp::encode_bytes(out, to);
        rlp::encode_uint(out, &self.amount);
        rlp::encode_bytes(out, &self.data);
        if self.tx_type == TxType::Legacy {
            return;
        }
        let mut list = Vec::new();
        for item in &self.access_list {
            let mut keys = Vec::with_capacity(33 * item.storage_keys.len());
            for k in &item.storage_keys {
                rlp::encode_bytes(&mut keys, k);
            }
            let mut entry = Vec::new();
            rlp::encode_bytes(&mut entry, item.address.as_bytes());
            rlp::encode_list(&mut entry, &keys);
            rlp::encode_list(&mut list, &entry);
        }
        rlp::encode_list(out, &list);
        if self.tx_type == TxType::Eip7702 {
            let mut auths = Vec::new();
            for a in &self.authorization_list {
                a.encode(&mut auths);
            }
            rlp::encode_list(out, &auths);
        }
    }

    /// `items` as the transaction's envelope: `RLP(items)` for legacy, else the EIP-2718 form
    /// `type ‖ RLP(items)`.
    fn envelope(&self, items: &[u8]) -> Vec<u8> {
        match self.tx_type {
            TxType::Legacy => rlp::list(items),
            t => {
                let mut out = Vec::with_capacity(items.len() + 10);
                out.push(t.number());
                rlp::encode_list(&mut out, items);
                out
            }
        }
    }

    /// The bytes whose keccak256 is signed: `RLP([…, chain_id, 0, 0])` (EIP-155), or
    /// `type ‖ RLP([…])` for types 1, 2 and 4 (EIP-2930, EIP-1559, EIP-7702).
    pub fn signing_payload(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        let mut items = Vec::new();
        self.body_items(&mut items);
        if self.tx_type == TxType::Legacy {
            rlp::encode_u64(&mut items, self.chain_id);
            rlp::encode_u64(&mut items, 0);
            rlp::encode_u64(&mut items, 0);
        }
        Ok(self.envelope(&items))
    }

    /// keccak256 of [`TxRequest::signing_payload`].
    pub fn signing_hash(&self) -> Result<[u8; 32], Error> {
        Ok(keccak256(&self.signing_payload()?))
    }
}

#[derive(Serialize)]
struct AccessListJson {
    address: String,
    #[serde(rename = "storageKeys")]
    storage_keys: Vec<String>,
}

/// `signed_tx_json`, fields in the order of docs/guardian.md, "Design: signing routes" (serde keeps declaration order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TxJson {
    #[serde(rename = "type")]
    tx_type: &'static str,
    chain_id: String,
    nonce: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gas_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_priority_fee_per_gas: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_fee_per_gas: Option<String>,
    gas: String,
    to: Option<String>,
    value: String,
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_list: Option<Vec<AccessListJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_list: Option<Vec<AuthorizationJson>>,
    v: String,
    r: String,
    s: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    y_parity: Option<String>,
    hash: String,
}

/// Signs a transaction with `key` (validating it first).
pub fn sign_tx(key: &PrivateKey, tx: &TxRequest) -> Result<SignedTx, Error> {
    let signing_hash = tx.signing_hash()?;
    let sig = key.sign_digest(&signing_hash)?;
    let r = U256::from_be_bytes(sig.r);
    let s = U256::from_be_bytes(sig.s);
    let y_parity = sig.recovery_id;
    let legacy = tx.tx_type == TxType::Legacy;
    let dynamic = tx.tx_type.dynamic_fee();
    let v = if legacy {
        tx.chain_id
            .checked_mul(2)
            .and_then(|c| c.checked_add(35 + u64::from(y_parity)))
            .ok_or_else(|| field_err("chain_id", "is too large for EIP-155"))?
    } else {
        u64::from(y_parity)
    };

    let mut items = Vec::new();
    tx.body_items(&mut items);
    rlp::encode_u64(&mut items, v);
    rlp::encode_uint(&mut items, &r);
    rlp::encode_uint(&mut items, &s);
    let raw = tx.envelope(&items);
    let hash = keccak256(&raw);
    let json = TxJson {
        tx_type: match tx.tx_type {
            TxType::Legacy => "0x0",
            TxType::Eip2930 => "0x1",
            TxType::Eip1559 => "0x2",
            TxType::Eip7702 => "0x4",
        },
        chain_id: U256::from_u64(tx.chain_id).to_quantity(),
        nonce: U256::from_u64(tx.nonce).to_quantity(),
        gas_price: (!dynamic).then(|| tx.gas_price.to_quantity()),
        max_priority_fee_per_gas: dynamic.then(|| tx.max_priority_fee_per_gas.to_quantity()),
        max_fee_per_gas: dynamic.then(|| tx.max_fee_per_gas.to_quantity()),
        gas: U256::from_u64(tx.gas_limit).to_quantity(),
        to: tx.to.map(|a| a.to_checksum()),
        value: tx.amount.to_quantity(),
        input: crate::hex::encode(&tx.data),
        access_list: (!legacy).then(|| {
            tx.access_list
                .iter()
                .map(|item| AccessListJson {
                    address: item.address.to_checksum(),
                    storage_keys: item
                        .storage_keys
                        .iter()
                        .map(|k| crate::hex::encode(k))
                        .collect(),
                })
                .collect()
        }),
        authorization_list: (tx.tx_type == TxType::Eip7702)
            .then(|| tx.authorization_list.iter().map(Into::into).collect()),
        v: U256::from_u64(v).to_quantity(),
        r: r.to_quantity(),
        s: s.to_quantity(),
        y_parity: (!legacy).then(|| U256::from_u64(u64::from(y_parity)).to_quantity()),
        hash: crate::hex::encode(&hash),
    };
    let json = serde_json::to_string(&json)
        .map_err(|_| Error::internal("cannot serialise signed_tx_json"))?;
    Ok(SignedTx {
        raw,
        hash,
        signing_hash,
        from: key.address(),
        v,
        r,
        s,
        y_parity,
        json,
    })
}
