//! Registered-claim checks (RFC 7519 section 4.1).

use crate::error::Error;
use crate::{IatCheck, Validation};
use serde_json::{Map, Value};

/// Checks the claims at `now` and returns `sub`. `exp` is checked last, so a token that is both
/// expired and otherwise invalid reports the other failure (guardian distinguishes
/// `ID_TOKEN_EXPIRED` from `ID_TOKEN_INVALID`).
pub(crate) fn check(
    claims: &Map<String, Value>,
    v: &Validation,
    now: u64,
) -> Result<String, Error> {
    // NumericDate may be fractional; f64 is exact for every realistic unix time.
    let now = now as f64;
    let leeway = v.leeway as f64;

    if let Some(expected) = &v.issuer {
        match claims.get("iss") {
            None => return Err(Error::MissingClaim("iss")),
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(_)) => return Err(Error::WrongIssuer),
            Some(_) => return Err(Error::InvalidClaim("iss")),
        }
    }

    if let Some(expected) = &v.audience {
        match claims.get("aud") {
            None => return Err(Error::MissingClaim("aud")),
            Some(Value::String(aud)) => {
                if aud != expected {
                    return Err(Error::WrongAudience);
                }
            }
            Some(Value::Array(auds)) => {
                let mut found = false;
                for a in auds {
                    match a {
                        Value::String(a) => found |= a == expected,
                        _ => return Err(Error::InvalidClaim("aud")),
                    }
                }
                if !found {
                    return Err(Error::WrongAudience);
                }
                if auds.len() > 1 && v.azp_for_multiple_audiences {
                    match claims.get("azp") {
                        None => return Err(Error::MissingClaim("azp")),
                        Some(Value::String(azp)) if azp == expected => {}
                        Some(Value::String(_)) => return Err(Error::WrongAudience),
                        Some(_) => return Err(Error::InvalidClaim("azp")),
                    }
                }
            }
            Some(_) => return Err(Error::InvalidClaim("aud")),
        }
    }

    if let Some(nbf) = numeric(claims, "nbf")?
        && nbf > now + leeway
    {
        return Err(Error::NotYetValid);
    }

    if v.iat != IatCheck::Ignore {
        match numeric(claims, "iat")? {
            None if v.iat == IatCheck::Required => return Err(Error::MissingClaim("iat")),
            Some(iat) if iat > now + leeway => return Err(Error::IssuedInFuture),
            _ => {}
        }
    }

    let sub = match claims.get("sub") {
        None => return Err(Error::MissingClaim("sub")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(Error::InvalidClaim("sub")),
    };

    match numeric(claims, "exp")? {
        None if v.require_exp => return Err(Error::MissingClaim("exp")),
        Some(exp) if now >= exp + leeway => return Err(Error::Expired),
        _ => {}
    }

    Ok(sub)
}

/// A NumericDate claim: absent → `None`; present but not a number → error.
fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(Error::InvalidClaim(name)),
        Some(_) => Err(Error::InvalidClaim(name)),
    }
}
