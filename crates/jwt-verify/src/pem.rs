//! PEM public keys: SPKI, X.509 certificates, PKCS#1.

use crate::error::KeyError;
use crate::keys::{KeyType, PublicKey};

pub(crate) fn parse(pem: &str, key_type: KeyType) -> Result<PublicKey, KeyError> {
    let _ = (pem, key_type);
    Err(KeyError::InvalidPem)
}
