//! EIP-7702 authorizations: the tuple an account signs to delegate its code to a contract, for
//! `POST /guardian/sign-authorization` and the `authorization_list` of a type-4 transaction
//! (docs/guardian.md, "Design: signing routes", "Authorizations").

use crate::address::Address;
use crate::error::{Error, ErrorCode};
use crate::int::{IntError, parse_u64, parse_u256};
use crate::keccak::keccak256;
use crate::keys::{PrivateKey, RecoverableSignature};
use crate::rlp;
use crate::tx::MAX_CHAIN_ID;
use crate::u256::U256;
use serde::Serialize;
use serde_json::{Map, Value};

/// EIP-7702's `MAGIC`: the first byte of the bytes an authorization's signature covers.
pub const MAGIC: u8 = 0x05;

/// secp256k1n / 2: EIP-7702 (as EIP-2) makes an authorization whose `s` is above it invalid.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// An unsigned authorization: `address` (the delegate) may run as the signing account on
/// `chain_id` (0: every chain) while the account's nonce is `nonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub chain_id: U256,
    pub address: Address,
    pub nonce: u64,
}

impl Authorization {
    /// `rlp([chain_id, address, nonce])`'s items, concatenated.
    fn items(&self, out: &mut Vec<u8>) {
        rlp::encode_uint(out, &self.chain_id);
        rlp::encode_bytes(out, self.address.as_bytes());
        rlp::encode_u64(out, self.nonce);
    }

    /// The digest an authority signs: `keccak256(0x05 ‖ rlp([chain_id, address, nonce]))`.
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut items = Vec::with_capacity(64);
        self.items(&mut items);
        let mut payload = vec![MAGIC];
        rlp::encode_list(&mut payload, &items);
        keccak256(&payload)
    }
}

/// A signed authorization, as it stands in a type-4 transaction's `authorization_list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedAuthorization {
    pub auth: Authorization,
    /// 0 or 1.
    pub y_parity: u8,
    pub r: U256,
    pub s: U256,
}

impl SignedAuthorization {
    /// Appends `rlp([chain_id, address, nonce, y_parity, r, s])`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut items = Vec::with_capacity(128);
        self.auth.items(&mut items);
        rlp::encode_u64(&mut items, u64::from(self.y_parity));
        rlp::encode_uint(&mut items, &self.r);
        rlp::encode_uint(&mut items, &self.s);
        rlp::encode_list(out, &items);
    }

    /// `r ‖ s ‖ y_parity` (65 bytes, v ∈ {0, 1}).
    pub fn signature_bytes(&self) -> [u8; 65] {
        RecoverableSignature {
            r: self.r.to_be_bytes(),
            s: self.s.to_be_bytes(),
            recovery_id: self.y_parity,
        }
        .to_bytes()
    }

    /// The account that signed it, or `None` when the signature is one EIP-7702 skips (`s`
    /// above secp256k1n/2, `y_parity` not 0 or 1) or that recovers to no key.
    pub fn authority(&self) -> Option<Address> {
        if self.y_parity > 1 || self.s > U256::from_be_bytes(HALF_ORDER) {
            return None;
        }
        crate::keys::recover_address(&self.auth.signing_hash(), &self.signature_bytes()).ok()
    }
}

/// Signs `auth` with `key` (RFC 6979, low-S, as every guardian signature).
pub fn sign_authorization(
    key: &PrivateKey,
    auth: &Authorization,
) -> Result<SignedAuthorization, Error> {
    let sig = key.sign_digest(&auth.signing_hash())?;
    Ok(SignedAuthorization {
        auth: *auth,
        y_parity: sig.recovery_id,
        r: U256::from_be_bytes(sig.r),
        s: U256::from_be_bytes(sig.s),
    })
}

/// One authorization in JSON as alloy, ethers and `eth_getTransactionByHash` name its fields
/// (`chainId`, `address`, `nonce`, `yParity`, `r`, `s`; numbers as `0x` quantities).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationJson {
    chain_id: String,
    address: String,
    nonce: String,
    y_parity: String,
    r: String,
    s: String,
}

impl From<&SignedAuthorization> for AuthorizationJson {
    fn from(a: &SignedAuthorization) -> Self {
        AuthorizationJson {
            chain_id: a.auth.chain_id.to_quantity(),
            address: a.auth.address.to_checksum(),
            nonce: U256::from_u64(a.auth.nonce).to_quantity(),
            y_parity: U256::from_u64(u64::from(a.y_parity)).to_quantity(),
            r: a.r.to_quantity(),
            s: a.s.to_quantity(),
        }
    }
}

/// Where an authorization is read from, for the error code and the field names of its messages.
#[derive(Clone, Copy)]
enum Context<'a> {
    /// The body of `/guardian/sign-authorization`: `INVALID_AUTHORIZATION`, `chain_id`.
    Route,
    /// An item of a transaction's `authorization_list`: `INVALID_TX`,
    /// `authorization_list[3].chain_id`.
    Item(&'a str),
}

impl Context<'_> {
    fn err(self, field: &str, why: impl core::fmt::Display) -> Error {
        match self {
            Context::Route => Error::new(ErrorCode::InvalidAuthorization, format!("{field} {why}")),
            Context::Item(item) => {
                Error::new(ErrorCode::InvalidTx, format!("{item}.{field} {why}"))
            }
        }
    }

    /// A field under its snake_case name or, when `camel` differs, the camelCase one (not both).
    fn field<'v>(
        self,
        obj: &'v Map<String, Value>,
        snake: &str,
        camel: &str,
    ) -> Result<Option<&'v Value>, Error> {
        let a = obj.get(snake).filter(|v| !v.is_null());
        let b = obj.get(camel).filter(|v| !v.is_null() && snake != camel);
        match (a, b) {
            (Some(_), Some(_)) => Err(self.err(snake, format!("is given twice (also as {camel})"))),
            (a, b) => Ok(a.or(b)),
        }
    }

    fn required<'v>(
        self,
        obj: &'v Map<String, Value>,
        snake: &str,
        camel: &str,
    ) -> Result<&'v Value, Error> {
        self.field(obj, snake, camel)?
            .ok_or_else(|| self.err(snake, "is required"))
    }

    fn int<T>(
        self,
        v: &Value,
        field: &str,
        parse: fn(&Value) -> Result<T, IntError>,
        out_of_range: &str,
    ) -> Result<T, Error> {
        parse(v).map_err(|e| match e {
            IntError::OutOfRange => self.err(field, out_of_range),
            e => self.err(field, e),
        })
    }

    /// A required u64 field (under `snake` or `camel`).
    fn u64_field(self, obj: &Map<String, Value>, snake: &str, camel: &str) -> Result<u64, Error> {
        let v = self.required(obj, snake, camel)?;
        self.int(v, snake, parse_u64, "must fit in 64 bits")
    }

    /// A required u256 field (under `snake` or `camel`).
    fn u256_field(self, obj: &Map<String, Value>, snake: &str, camel: &str) -> Result<U256, Error> {
        let v = self.required(obj, snake, camel)?;
        self.int(v, snake, parse_u256, "must be below 2^256")
    }

    fn address(self, v: &Value, field: &str) -> Result<Address, Error> {
        let s = v
            .as_str()
            .ok_or_else(|| self.err(field, "must be an address string"))?;
        Address::parse(s).map_err(|e| self.err(field, e))
    }
}

fn reject_unknown(
    obj: &Map<String, Value>,
    allowed: &[&str],
    ctx: Context<'_>,
) -> Result<(), Error> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(match ctx {
            Context::Route => Error::bad_request(format!("unknown field {k:?}")),
            Context::Item(item) => Error::new(
                ErrorCode::InvalidTx,
                format!("{item} has unknown field {k:?}"),
            ),
        }),
    }
}

/// The body fields of `/guardian/sign-authorization`, besides `address_index`.
pub const AUTHORIZATION_FIELDS: &[&str] = &["chain_id", "address", "nonce"];

/// The unsigned authorization of a `/guardian/sign-authorization` body (`address_index` is the
/// caller's): `chain_id` (required; 0 means every chain), `address` (the delegate, required),
/// `nonce` (required). Errors are `INVALID_AUTHORIZATION` naming the field; an unknown field is
/// `BAD_REQUEST`.
pub fn parse_authorization(obj: &Map<String, Value>) -> Result<Authorization, Error> {
    let ctx = Context::Route;
    let mut allowed = AUTHORIZATION_FIELDS.to_vec();
    allowed.push("address_index");
    reject_unknown(obj, &allowed, ctx)?;
    let chain_id = ctx.u64_field(obj, "chain_id", "chain_id")?;
    if chain_id > MAX_CHAIN_ID {
        return Err(ctx.err(
            "chain_id",
            format!("must be 0 (every chain) or 1..={MAX_CHAIN_ID}"),
        ));
    }
    let address = ctx.address(ctx.required(obj, "address", "address")?, "address")?;
    let nonce = ctx.u64_field(obj, "nonce", "nonce")?;
    Ok(Authorization {
        chain_id: U256::from_u64(chain_id),
        address,
        nonce,
    })
}

/// The fields of one `authorization_list` item: the answer of `/guardian/sign-authorization`
/// (less `fresh_client_token`), or the same tuple in alloy's camelCase names.
const ITEM_FIELDS: &[&str] = &[
    "chain_id",
    "chainId",
    "address",
    "nonce",
    "y_parity",
    "yParity",
    "r",
    "s",
    "signature",
    "digest",
    "authority",
];

/// One signed authorization of a type-4 transaction's `authorization_list` (`name` is the
/// item's place, `authorization_list[i]`, for the messages). Every field is required except the
/// ones `/guardian/sign-authorization` adds to the tuple (`signature`, `digest`, `authority`),
/// which must agree with it when present. The signature must be one EIP-7702 accepts (low `s`,
/// y-parity 0 or 1, recovering to a key): a transaction would otherwise carry an authorization
/// every node skips. Returns the authorization and its authority.
pub fn parse_signed_authorization(
    v: &Value,
    name: &str,
) -> Result<(SignedAuthorization, Address), Error> {
    let ctx = Context::Item(name);
    let obj = v
        .as_object()
        .ok_or_else(|| Error::new(ErrorCode::InvalidTx, format!("{name} must be an object")))?;
    reject_unknown(obj, ITEM_FIELDS, ctx)?;
    let chain_id = ctx.u256_field(obj, "chain_id", "chainId")?;
    let address = ctx.address(ctx.required(obj, "address", "address")?, "address")?;
    let nonce = ctx.u64_field(obj, "nonce", "nonce")?;
    let y_parity = match ctx.int(
        ctx.required(obj, "y_parity", "yParity")?,
        "y_parity",
        parse_u64,
        "must be 0 or 1",
    )? {
        0 => 0,
        1 => 1,
        _ => return Err(ctx.err("y_parity", "must be 0 or 1")),
    };
    let r = ctx.u256_field(obj, "r", "r")?;
    let s = ctx.u256_field(obj, "s", "s")?;
    if s > U256::from_be_bytes(HALF_ORDER) {
        return Err(ctx.err(
            "s",
            "must be at most secp256k1n/2 (EIP-7702 skips a high-s authorization)",
        ));
    }
    let signed = SignedAuthorization {
        auth: Authorization {
            chain_id,
            address,
            nonce,
        },
        y_parity,
        r,
        s,
    };
    let authority = signed
        .authority()
        .ok_or_else(|| ctx.err("r", "and s do not form a signature that recovers to a key"))?;
    if let Some(sig) = ctx.field(obj, "signature", "signature")? {
        let given = sig
            .as_str()
            .and_then(|s| crate::hex::decode(s).ok())
            .ok_or_else(|| ctx.err("signature", "must be hex"))?;
        if given.as_slice() != signed.signature_bytes().as_slice() {
            return Err(ctx.err("signature", "does not match y_parity, r and s"));
        }
    }
    if let Some(d) = ctx.field(obj, "digest", "digest")? {
        let given: [u8; 32] = d
            .as_str()
            .and_then(|s| crate::hex::decode_fixed(s).ok())
            .ok_or_else(|| ctx.err("digest", "must be 32 bytes of hex"))?;
        if given != signed.auth.signing_hash() {
            return Err(ctx.err("digest", "does not match chain_id, address and nonce"));
        }
    }
    if let Some(a) = ctx.field(obj, "authority", "authority")?
        && ctx.address(a, "authority")? != authority
    {
        return Err(ctx.err(
            "authority",
            format!("does not match the signature, which recovers to {authority}"),
        ));
    }
    Ok((signed, authority))
}
