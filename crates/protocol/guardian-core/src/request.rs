//! Request parsing for guardian's signing routes (docs/guardian.md, "Design: conventions", "Design: signing routes"): the component passes the
//! JSON body (or query value) and gets a typed request or an [`Error`] carrying the spec's code.
//!
//! Common rules: the body must be a JSON object; an unknown field is `BAD_REQUEST` (a typo must
//! not sign with defaults); an optional field that is `null` counts as absent.

use crate::authorization::{Authorization, parse_authorization};
use crate::eip712::TypedData;
use crate::error::{Error, ErrorCode};
use crate::hd::MAX_ADDRESS_INDEX;
use crate::int::parse_int_str;
use crate::tx::TxRequest;
use serde_json::{Map, Value};

/// `POST /guardian/sign`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    /// Signed as the digest, unhashed.
    pub digest: [u8; 32],
    pub address_index: u32,
}

/// `POST /guardian/sign-tx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignTxRequest {
    pub tx: TxRequest,
    pub address_index: u32,
}

/// `POST /guardian/sign-authorization` (EIP-7702).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignAuthorizationRequest {
    pub authorization: Authorization,
    pub address_index: u32,
}

/// `POST /guardian/sign-message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignMessageRequest {
    /// The message bytes (UTF-8 of the string, or the decoded hex).
    pub message: Vec<u8>,
    pub address_index: u32,
}

/// `POST /guardian/sign-typed-data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignTypedDataRequest {
    pub typed_data: TypedData,
    pub address_index: u32,
}

fn object(body: &Value) -> Result<&Map<String, Value>, Error> {
    body.as_object()
        .ok_or_else(|| Error::bad_request("request body must be a JSON object"))
}

fn reject_unknown(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::bad_request(format!("unknown field {k:?}"))),
        None => Ok(()),
    }
}

fn index_error() -> Error {
    Error::new(
        ErrorCode::InvalidAddressIndex,
        format!(
            "address_index must be an integer 0..={MAX_ADDRESS_INDEX} (JSON number or decimal string)"
        ),
    )
}

fn index_from_decimal(s: &str) -> Result<u32, Error> {
    // Decimal only (no 0x) for address_index, per docs/guardian.md, "Design: conventions".
    if s.starts_with("0x") || s.starts_with("0X") || s.starts_with('-') {
        return Err(index_error());
    }
    let i = parse_int_str(s, false).map_err(|_| index_error())?;
    i.magnitude
        .to_u64()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v <= MAX_ADDRESS_INDEX)
        .ok_or_else(index_error)
}

/// `address_index` from a JSON body: absent or null → 0; a JSON number or decimal string in
/// 0…2^31−1; anything else → `INVALID_ADDRESS_INDEX`.
pub fn parse_address_index(value: Option<&Value>) -> Result<u32, Error> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v <= MAX_ADDRESS_INDEX)
            .ok_or_else(index_error),
        Some(Value::String(s)) => index_from_decimal(s),
        Some(_) => Err(index_error()),
    }
}

/// `address_index` from a query string value (already percent-decoded): absent → 0, else a
/// decimal in 0…2^31−1.
pub fn parse_address_index_query(value: Option<&str>) -> Result<u32, Error> {
    match value {
        None => Ok(0),
        Some(s) => index_from_decimal(s),
    }
}

/// `raw_data` of `/guardian/sign`: missing, null or `""` → `MISSING_SIGN_DATA`; anything but
/// exactly 32 bytes of hex (`0x` optional) → `INVALID_RAW_DATA`. Never panics on short input
/// (the original plugin did).
pub fn parse_raw_data(value: Option<&Value>) -> Result<[u8; 32], Error> {
    const RULE: &str = "raw_data must be 32 bytes of hex (64 hex digits, 0x optional)";
    let s = match value {
        None | Some(Value::Null) => {
            return Err(Error::new(
                ErrorCode::MissingSignData,
                "raw_data is required",
            ));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(Error::new(
                ErrorCode::MissingSignData,
                "raw_data is required",
            ));
        }
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(Error::new(
                ErrorCode::InvalidRawData,
                format!("{RULE}; got a non-string"),
            ));
        }
    };
    crate::hex::decode_fixed::<32>(s).map_err(|e| {
        let got = match e {
            crate::hex::FixedHexError::Length(n) => format!("got {n} bytes"),
            crate::hex::FixedHexError::Hex(h) => format!("got invalid hex ({h})"),
        };
        Error::new(ErrorCode::InvalidRawData, format!("{RULE}; {got}"))
    })
}

/// Body of `POST /guardian/sign`: `{"raw_data", "address_index"?}`.
pub fn parse_sign_request(body: &Value) -> Result<SignRequest, Error> {
    let obj = object(body)?;
    reject_unknown(obj, &["raw_data", "address_index"])?;
    let digest = parse_raw_data(obj.get("raw_data"))?;
    let address_index = parse_address_index(obj.get("address_index"))?;
    Ok(SignRequest {
        digest,
        address_index,
    })
}

/// Body of `POST /guardian/sign-tx` (docs/guardian.md, "Design: signing routes").
pub fn parse_sign_tx_request(body: &Value) -> Result<SignTxRequest, Error> {
    let obj = object(body)?;
    let tx = TxRequest::from_json(obj)?;
    let address_index = parse_address_index(obj.get("address_index"))?;
    Ok(SignTxRequest { tx, address_index })
}

/// Body of `POST /guardian/sign-authorization`: `{"chain_id", "address", "nonce",
/// "address_index"?}` (docs/guardian.md, "Design: signing routes", "Authorizations").
pub fn parse_sign_authorization_request(body: &Value) -> Result<SignAuthorizationRequest, Error> {
    let obj = object(body)?;
    let authorization = parse_authorization(obj)?;
    let address_index = parse_address_index(obj.get("address_index"))?;
    Ok(SignAuthorizationRequest {
        authorization,
        address_index,
    })
}

/// Body of `POST /guardian/sign-message`: `{"message", "encoding"?, "address_index"?}`;
/// `encoding` is `"utf8"` (default) or `"hex"`.
pub fn parse_sign_message_request(body: &Value) -> Result<SignMessageRequest, Error> {
    let obj = object(body)?;
    reject_unknown(obj, &["message", "encoding", "address_index"])?;
    let invalid = |m: String| Error::new(ErrorCode::InvalidMessage, m);
    let text = match obj.get("message") {
        None | Some(Value::Null) => {
            return Err(Error::new(
                ErrorCode::MissingSignData,
                "message is required",
            ));
        }
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid("message must be a string".to_string())),
    };
    let message = match obj.get("encoding") {
        None | Some(Value::Null) => text.as_bytes().to_vec(),
        Some(Value::String(e)) if e == "utf8" => text.as_bytes().to_vec(),
        Some(Value::String(e)) if e == "hex" => crate::hex::decode(text)
            .map_err(|e| invalid(format!("message is not valid hex: {e}")))?,
        Some(_) => return Err(invalid("encoding must be \"utf8\" or \"hex\"".to_string())),
    };
    let address_index = parse_address_index(obj.get("address_index"))?;
    Ok(SignMessageRequest {
        message,
        address_index,
    })
}

/// Body of `POST /guardian/sign-typed-data`: `{"typed_data", "address_index"?}`; `typed_data`
/// is an object or a JSON string (docs/guardian.md, "Design: signing routes").
pub fn parse_sign_typed_data_request(body: &Value) -> Result<SignTypedDataRequest, Error> {
    let obj = object(body)?;
    reject_unknown(obj, &["typed_data", "address_index"])?;
    let typed_data = match obj.get("typed_data") {
        None | Some(Value::Null) => {
            return Err(Error::new(
                ErrorCode::MissingSignData,
                "typed_data is required",
            ));
        }
        Some(v) => TypedData::from_json(v)?,
    };
    let address_index = parse_address_index(obj.get("address_index"))?;
    Ok(SignTypedDataRequest {
        typed_data,
        address_index,
    })
}
