//! PEM public keys: SPKI (`PUBLIC KEY`), X.509 (`CERTIFICATE`), PKCS#1 (`RSA PUBLIC KEY`).

use crate::error::KeyError;
use crate::keys::{Curve, KeyType, PublicKey, ec_from_sec1, ed25519_from_bytes};
use base64::Engine as _;
use der::Decode as _;
use der::Encode as _;
use der::asn1::ObjectIdentifier as Oid;

const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

/// Longest PEM text accepted (a certificate chain's first block is well under this).
const MAX_PEM_LEN: usize = 64 * 1024;

impl PublicKey {
    /// Parses a PEM public key of the given type: `PUBLIC KEY` (SPKI), `CERTIFICATE` (X.509, its
    /// SPKI is used; validity dates and issuer are not checked), or for [`KeyType::Rsa`] also
    /// `RSA PUBLIC KEY` (PKCS#1). The first PEM block is used; text around it is ignored.
    /// Shield maps any error to 400 `Invalid PEM certificate`.
    ///
    /// Defined here, beside the PEM parser, so that the key types never import this module.
    pub fn from_pem(pem: &str, key_type: KeyType) -> Result<PublicKey, KeyError> {
        parse(pem, key_type)
    }
}

pub(crate) fn parse(pem: &str, key_type: KeyType) -> Result<PublicKey, KeyError> {
    let (label, der) = first_block(pem)?;
    let key = match label {
        "PUBLIC KEY" => from_spki_der(&der)?,
        "CERTIFICATE" => {
            let cert = x509_cert::Certificate::from_der(&der).map_err(|_| KeyError::InvalidPem)?;
            let spki = cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|_| KeyError::InvalidPem)?;
            from_spki_der(&spki)?
        }
        "RSA PUBLIC KEY" if key_type == KeyType::Rsa => {
            let k =
                rsa::pkcs1::RsaPublicKeyRef::from_der(&der).map_err(|_| KeyError::InvalidPem)?;
            crate::keys::rsa_from_parts(k.modulus.as_bytes(), k.public_exponent.as_bytes())?
        }
        _ => return Err(KeyError::UnsupportedPemLabel),
    };
    if key.kind().key_type() != key_type {
        return Err(KeyError::KeyTypeMismatch);
    }
    Ok(key)
}

/// The label and DER of the first PEM block of `text`. Lenient about surrounding text,
/// CRLF, line length and whitespace; strict about the base64 and the matching END line.
pub(crate) fn first_block(text: &str) -> Result<(&str, Vec<u8>), KeyError> {
    if text.len() > MAX_PEM_LEN {
        return Err(KeyError::InvalidPem);
    }
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN).ok_or(KeyError::InvalidPem)? + BEGIN.len();
    let rest = &text[start..];
    let label_end = rest.find("-----").ok_or(KeyError::InvalidPem)?;
    let label = &rest[..label_end];
    if label.contains('\n') || label.contains('\r') {
        return Err(KeyError::InvalidPem);
    }
    let body_and_more = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_more
        .find(&end_marker)
        .ok_or(KeyError::InvalidPem)?;
    let body: String = body_and_more[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::InvalidPem)?;
    if der.is_empty() {
        return Err(KeyError::InvalidPem);
    }
    Ok((label, der))
}

/// A key from DER `SubjectPublicKeyInfo`.
pub(crate) fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::InvalidPem)?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::InvalidKey)?;
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        let k = rsa::pkcs1::RsaPublicKeyRef::from_der(bits).map_err(|_| KeyError::InvalidKey)?;
        crate::keys::rsa_from_parts(k.modulus.as_bytes(), k.public_exponent.as_bytes())
    } else if oid == EC_PUBLIC_KEY {
        let curve = match spki.algorithm.parameters_oid() {
            Ok(c) if c == SECP256R1 => Curve::P256,
            Ok(c) if c == SECP384R1 => Curve::P384,
            Ok(c) if c == SECP521R1 => Curve::P521,
            _ => return Err(KeyError::KeyTypeMismatch),
        };
        ec_from_sec1(curve, bits)
    } else if oid == ED25519 {
        if spki.algorithm.parameters.is_some() {
            return Err(KeyError::InvalidKey);
        }
        ed25519_from_bytes(bits)
    } else {
        Err(KeyError::KeyTypeMismatch)
    }
}
