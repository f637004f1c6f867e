//! EIP-712 typed-data hashing (`eth_signTypedData_v4` semantics) for `/guardian/sign-typed-data`
//! (docs/guardian.md, "Design: signing routes").
//!
//! Hand-written rather than taken from alloy: `alloy-dyn-abi`'s EIP-712 support adds ~150 KB to a
//! wasm32-wasip2 build (see README.md), and the spec asks for stricter input rules than it
//! enforces anyway (exact field sets, range checks, a depth bound, safe JSON numbers).
//!
//! Strictness, so that what the user saw is what gets signed:
//! - a struct value has exactly its declared fields (none missing, none extra);
//! - every value fits its type: `uintN`/`intN` in range, `bytesN` exactly N bytes, addresses
//!   EIP-55-valid when mixed case, `bool` a JSON boolean;
//! - integers follow docs/guardian.md, "Design: conventions" (JSON numbers only up to 2^53−1; decimal or `0x` strings),
//!   with a leading `-` allowed for `intN`;
//! - struct and array nesting is at most [`MAX_DEPTH`] deep.

use crate::address::Address;
use crate::error::Error;
use crate::int::parse_int;
use crate::keccak::keccak256;
use crate::keys::{PrivateKey, RecoverableSignature};
use crate::u256::U256;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Maximum nesting of structs and arrays in a value (the message itself is depth 1).
pub const MAX_DEPTH: usize = 32;

/// Maximum number of struct types. Real typed data has a handful; the bound keeps the
/// precomputed type hashes (each encodeType can list every type) cheap on hostile input.
pub const MAX_TYPES: usize = 128;

const DOMAIN: &str = "EIP712Domain";

/// The standard EIP712Domain fields, in the order EIP-712 gives them, used when `types` omits
/// `EIP712Domain` and it has to be derived from the keys present in `domain`.
const STANDARD_DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Atomic {
    Uint(u32),
    Int(u32),
    Address,
    Bool,
    FixedBytes(usize),
    Bytes,
    String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Base {
    Atomic(Atomic),
    Struct(String),
}

/// A parsed field type: `dims` are the array suffixes left to right, so the last one is the
/// outermost (`T[2][]` is a dynamic array of `T[2]`). `None` = dynamic length.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TypeRef {
    base: Base,
    dims: Vec<Option<usize>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: String,
    type_name: String,
    ty: TypeRef,
}

/// Validated typed data: types resolved, ready to hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedData {
    types: BTreeMap<String, Vec<Field>>,
    /// keccak256(encodeType) of every type, computed once: hashing an array of N structs must
    /// not rebuild the type string N times.
    type_hashes: BTreeMap<String, [u8; 32]>,
    primary_type: String,
    domain: Value,
    message: Option<Value>,
}

/// The three hashes of a typed-data signature request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypedDataHashes {
    pub domain_separator: [u8; 32],
    /// hashStruct(message); `None` when `primaryType` is `EIP712Domain`.
    pub struct_hash: Option<[u8; 32]>,
    /// keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message)) — what gets signed.
    pub digest: [u8; 32],
}

fn err(msg: impl Into<String>) -> Error {
    Error::invalid_typed_data(msg)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Canonical decimal (no sign, no leading zero) as usize.
fn canonical_usize(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_atomic(name: &str) -> Option<Atomic> {
    match name {
        "address" => return Some(Atomic::Address),
        "bool" => return Some(Atomic::Bool),
        "bytes" => return Some(Atomic::Bytes),
        "string" => return Some(Atomic::String),
        _ => {}
    }
    if let Some(bits) = name.strip_prefix("uint") {
        let n = canonical_usize(bits)?;
        return (n.is_multiple_of(8) && (8..=256).contains(&n)).then_some(Atomic::Uint(n as u32));
    }
    if let Some(bits) = name.strip_prefix("int") {
        let n = canonical_usize(bits)?;
        return (n.is_multiple_of(8) && (8..=256).contains(&n)).then_some(Atomic::Int(n as u32));
    }
    if let Some(len) = name.strip_prefix("bytes") {
        let n = canonical_usize(len)?;
        return (1..=32).contains(&n).then_some(Atomic::FixedBytes(n));
    }
    None
}

fn parse_type(s: &str, structs: &BTreeSet<String>) -> Result<TypeRef, Error> {
    let mut rest = s;
    let mut dims = Vec::new();
    while let Some(inner) = rest.strip_suffix(']') {
        let open = inner
            .rfind('[')
            .ok_or_else(|| err(format!("type {s:?} is malformed")))?;
        let len = inner.get(open + 1..).unwrap_or_default();
        dims.push(if len.is_empty() {
            None
        } else {
            match canonical_usize(len) {
                Some(n) if n > 0 => Some(n),
                _ => return Err(err(format!("type {s:?} has an invalid array length"))),
            }
        });
        if dims.len() > MAX_DEPTH {
            return Err(err(format!(
                "type {s:?} nests arrays deeper than {MAX_DEPTH}"
            )));
        }
        rest = inner.get(..open).unwrap_or_default();
    }
    dims.reverse();
    let base = if let Some(a) = parse_atomic(rest) {
        Base::Atomic(a)
    } else if structs.contains(rest) {
        Base::Struct(rest.to_string())
    } else {
        return Err(err(format!("unknown type {rest:?}")));
    };
    Ok(TypeRef { base, dims })
}

fn parse_fields(
    type_name: &str,
    value: &Value,
    structs: &BTreeSet<String>,
) -> Result<Vec<Field>, Error> {
    let list = value.as_array().ok_or_else(|| {
        err(format!(
            "types.{type_name} must be an array of {{name, type}}"
        ))
    })?;
    let mut seen = BTreeSet::new();
    let mut fields = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let where_ = format!("types.{type_name}[{i}]");
        let obj = entry
            .as_object()
            .ok_or_else(|| err(format!("{where_} must be an object {{name, type}}")))?;
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "name" | "type")) {
            return Err(err(format!("{where_} has unknown key {k:?}")));
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{where_}.name must be a string")))?;
        let type_str = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{where_}.type must be a string")))?;
        if !is_identifier(name) {
            return Err(err(format!("{where_}.name {name:?} is not an identifier")));
        }
        if !seen.insert(name) {
            return Err(err(format!("types.{type_name} declares {name:?} twice")));
        }
        fields.push(Field {
            name: name.to_string(),
            type_name: type_str.to_string(),
            ty: parse_type(type_str, structs)?,
        });
    }
    Ok(fields)
}

impl TypedData {
    /// Parses `typed_data`: an object `{types, primaryType, domain, message}` or a JSON string
    /// holding one. `types.EIP712Domain` may be omitted; it is then derived from the keys of
    /// `domain`. `message` may be omitted only when `primaryType` is `EIP712Domain`.
    pub fn from_json(value: &Value) -> Result<Self, Error> {
        let parsed;
        let obj = match value {
            Value::Object(obj) => obj,
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s)
                    .map_err(|e| err(format!("typed_data is not valid JSON: {e}")))?;
                parsed
                    .as_object()
                    .ok_or_else(|| err("typed_data must be a JSON object"))?
            }
            _ => return Err(err("typed_data must be an object or a JSON string")),
        };
        Self::from_object(obj)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, Error> {
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "types" | "primaryType" | "domain" | "message"))
        {
            return Err(err(format!("typed_data has unknown key {k:?}")));
        }
        let types_obj = obj
            .get("types")
            .and_then(Value::as_object)
            .ok_or_else(|| err("typed_data.types must be an object"))?;
        let primary_type = obj
            .get("primaryType")
            .and_then(Value::as_str)
            .ok_or_else(|| err("typed_data.primaryType is required (a string)"))?;
        let domain_obj = obj
            .get("domain")
            .and_then(Value::as_object)
            .ok_or_else(|| err("typed_data.domain must be an object"))?;
        let message = match obj.get("message") {
            None | Some(Value::Null) => None,
            Some(m) => Some(m.clone()),
        };

        if types_obj.len() > MAX_TYPES {
            return Err(err(format!(
                "typed_data.types declares more than {MAX_TYPES} types"
            )));
        }
        let mut structs: BTreeSet<String> = BTreeSet::new();
        for name in types_obj.keys() {
            if !is_identifier(name) || parse_atomic(name).is_some() {
                return Err(err(format!("types has an invalid struct name {name:?}")));
            }
            structs.insert(name.clone());
        }
        let mut types = BTreeMap::new();
        for (name, fields) in types_obj {
            types.insert(name.clone(), parse_fields(name, fields, &structs)?);
        }
        if !types.contains_key(DOMAIN) {
            let mut fields = Vec::new();
            for (name, type_name) in STANDARD_DOMAIN_FIELDS {
                if domain_obj.contains_key(name) {
                    fields.push(Field {
                        name: name.to_string(),
                        type_name: type_name.to_string(),
                        ty: parse_type(type_name, &structs)?,
                    });
                }
            }
            if let Some(k) = domain_obj
                .keys()
                .find(|k| !STANDARD_DOMAIN_FIELDS.iter().any(|(n, _)| n == k))
            {
                return Err(err(format!(
                    "domain.{k} is not a standard EIP712Domain field; declare types.EIP712Domain"
                )));
            }
            types.insert(DOMAIN.to_string(), fields);
        }
        if !types.contains_key(primary_type) {
            return Err(err(format!(
                "primaryType {primary_type:?} is not declared in types"
            )));
        }
        if primary_type != DOMAIN && message.is_none() {
            return Err(err("typed_data.message is required"));
        }
        let mut typed = TypedData {
            types,
            type_hashes: BTreeMap::new(),
            primary_type: primary_type.to_string(),
            domain: Value::Object(domain_obj.clone()),
            message,
        };
        let mut type_hashes = BTreeMap::new();
        for name in typed.types.keys() {
            if let Some(encoded) = typed.encode_type(name) {
                type_hashes.insert(name.clone(), keccak256(encoded.as_bytes()));
            }
        }
        typed.type_hashes = type_hashes;
        Ok(typed)
    }

    pub fn primary_type(&self) -> &str {
        &self.primary_type
    }

    /// The `domain` object as given (its values are checked when it is hashed).
    pub fn domain(&self) -> &Value {
        &self.domain
    }

    /// EIP-712 `encodeType`: the struct, then every struct it references (transitively), sorted
    /// by name. None if `name` is not a declared struct.
    pub fn encode_type(&self, name: &str) -> Option<String> {
        let mut deps = BTreeSet::new();
        let mut stack = vec![name];
        while let Some(current) = stack.pop() {
            for field in self.types.get(current)? {
                if let Base::Struct(dep) = &field.ty.base
                    && dep != name
                    && deps.insert(dep.as_str())
                {
                    stack.push(dep);
                }
            }
        }
        let mut out = String::new();
        for n in core::iter::once(name).chain(deps) {
            out.push_str(n);
            out.push('(');
            for (i, f) in self.types.get(n)?.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&f.type_name);
                out.push(' ');
                out.push_str(&f.name);
            }
            out.push(')');
        }
        Some(out)
    }

    /// keccak256(encodeType(name)).
    pub fn type_hash(&self, name: &str) -> Option<[u8; 32]> {
        self.type_hashes.get(name).copied()
    }

    /// hashStruct(name, value) with the strict value rules of this module.
    pub fn hash_struct(&self, name: &str, value: &Value) -> Result<[u8; 32], Error> {
        self.hash_struct_at(name, value, 1, name)
    }

    fn hash_struct_at(
        &self,
        name: &str,
        value: &Value,
        depth: usize,
        path: &str,
    ) -> Result<[u8; 32], Error> {
        if depth > MAX_DEPTH {
            return Err(err(format!("{path}: nesting deeper than {MAX_DEPTH}")));
        }
        let fields = self
            .types
            .get(name)
            .ok_or_else(|| err(format!("{path}: unknown type {name:?}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| err(format!("{path} must be an object of type {name}")))?;
        if let Some(k) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
            return Err(err(format!(
                "{path} has field {k:?} not declared in {name}"
            )));
        }
        let type_hash = self
            .type_hash(name)
            .ok_or_else(|| err(format!("{path}: unknown type {name:?}")))?;
        let mut enc = Vec::with_capacity(32 * (fields.len() + 1));
        enc.extend_from_slice(&type_hash);
        for f in fields {
            let fpath = format!("{path}.{}", f.name);
            let v = obj
                .get(&f.name)
                .ok_or_else(|| err(format!("{fpath} is missing")))?;
            enc.extend_from_slice(&self.encode_value(&f.ty.base, &f.ty.dims, v, depth, &fpath)?);
        }
        Ok(keccak256(&enc))
    }

    /// The 32-byte `encodeData` word of one value.
    fn encode_value(
        &self,
        base: &Base,
        dims: &[Option<usize>],
        value: &Value,
        depth: usize,
        path: &str,
    ) -> Result<[u8; 32], Error> {
        if let Some((outer, inner)) = dims.split_last() {
            if depth + 1 > MAX_DEPTH {
                return Err(err(format!("{path}: nesting deeper than {MAX_DEPTH}")));
            }
            let items = value
                .as_array()
                .ok_or_else(|| err(format!("{path} must be an array")))?;
            if let Some(n) = outer
                && items.len() != *n
            {
                return Err(err(format!(
                    "{path} must have exactly {n} elements, has {}",
                    items.len()
                )));
            }
            let mut enc = Vec::with_capacity(32 * items.len());
            for (i, item) in items.iter().enumerate() {
                let ipath = format!("{path}[{i}]");
                enc.extend_from_slice(&self.encode_value(base, inner, item, depth + 1, &ipath)?);
            }
            return Ok(keccak256(&enc));
        }
        match base {
            Base::Struct(name) => self.hash_struct_at(name, value, depth + 1, path),
            Base::Atomic(a) => encode_atomic(*a, value, path),
        }
    }

    /// Domain separator, struct hash and digest.
    pub fn hashes(&self) -> Result<TypedDataHashes, Error> {
        let domain_separator = self.hash_struct_at(DOMAIN, &self.domain, 1, "domain")?;
        let struct_hash = if self.primary_type == DOMAIN {
            None
        } else {
            let message = self
                .message
                .as_ref()
                .ok_or_else(|| err("typed_data.message is required"))?;
            Some(self.hash_struct_at(&self.primary_type, message, 1, "message")?)
        };
        let mut pre = Vec::with_capacity(66);
        pre.extend_from_slice(&[0x19, 0x01]);
        pre.extend_from_slice(&domain_separator);
        if let Some(h) = &struct_hash {
            pre.extend_from_slice(h);
        }
        Ok(TypedDataHashes {
            domain_separator,
            struct_hash,
            digest: keccak256(&pre),
        })
    }
}

fn encode_atomic(ty: Atomic, value: &Value, path: &str) -> Result<[u8; 32], Error> {
    let type_err = |what: &str| err(format!("{path} must be {what}"));
    match ty {
        Atomic::Uint(bits) => {
            let i = parse_int(value, false).map_err(|e| err(format!("{path} {e}")))?;
            if i.magnitude.bits() > bits {
                return Err(err(format!("{path} is out of range for uint{bits}")));
            }
            Ok(i.magnitude.to_be_bytes())
        }
        Atomic::Int(bits) => {
            let i = parse_int(value, true).map_err(|e| err(format!("{path} {e}")))?;
            // intN holds -2^(N-1) ..= 2^(N-1) - 1.
            let limit = U256::pow2(bits - 1).unwrap_or(U256::MAX);
            let fits = if i.negative {
                i.magnitude <= limit
            } else {
                i.magnitude < limit
            };
            if !fits {
                return Err(err(format!("{path} is out of range for int{bits}")));
            }
            Ok(if i.negative {
                i.magnitude.wrapping_neg().to_be_bytes()
            } else {
                i.magnitude.to_be_bytes()
            })
        }
        Atomic::Address => {
            let s = value
                .as_str()
                .ok_or_else(|| type_err("an address string"))?;
            let a = Address::parse(s).map_err(|e| err(format!("{path} {e}")))?;
            let mut word = [0u8; 32];
            let (_, low) = word.split_at_mut(12);
            low.copy_from_slice(a.as_bytes());
            Ok(word)
        }
        Atomic::Bool => match value {
            Value::Bool(b) => Ok(U256::from_u64(u64::from(*b)).to_be_bytes()),
            _ => Err(type_err("a JSON boolean")),
        },
        Atomic::FixedBytes(n) => {
            let s = value.as_str().ok_or_else(|| type_err("a hex string"))?;
            let bytes =
                crate::hex::decode(s).map_err(|e| err(format!("{path} is not hex: {e}")))?;
            if bytes.len() != n {
                return Err(err(format!(
                    "{path} must be exactly {n} bytes for bytes{n}, got {}",
                    bytes.len()
                )));
            }
            let mut word = [0u8; 32];
            let (high, _) = word.split_at_mut(n);
            high.copy_from_slice(&bytes);
            Ok(word)
        }
        Atomic::Bytes => {
            let s = value.as_str().ok_or_else(|| type_err("a hex string"))?;
            let bytes =
                crate::hex::decode(s).map_err(|e| err(format!("{path} is not hex: {e}")))?;
            Ok(keccak256(&bytes))
        }
        Atomic::String => {
            let s = value.as_str().ok_or_else(|| type_err("a string"))?;
            Ok(keccak256(s.as_bytes()))
        }
    }
}

/// Hashes and signs typed data; serialise the signature with
/// [`RecoverableSignature::to_hex_v27`] (v ∈ {27,28} on this route).
pub fn sign_typed_data(
    key: &PrivateKey,
    typed_data: &TypedData,
) -> Result<(TypedDataHashes, RecoverableSignature), Error> {
    let hashes = typed_data.hashes()?;
    let sig = key.sign_digest(&hashes.digest)?;
    Ok((hashes, sig))
}
