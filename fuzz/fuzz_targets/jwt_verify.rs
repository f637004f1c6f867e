//! A JWKS document and a compact JWS as an identity provider or a client could send them: the
//! JWKS parsed, then the token verified against it (header, claims, signature).
#![no_main]

use jwt_verify::{Jwks, Keys, Validation, looks_like_jwt, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The JWKS, a NUL byte, then the token.
    let (jwks, token) = match data.iter().position(|b| *b == 0) {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            data.get(at + 1..).unwrap_or_default(),
        ),
        None => (data, &b""[..]),
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let _ = looks_like_jwt(token);
    let Ok(jwks) = Jwks::parse(jwks) else {
        return;
    };
    for validation in [
        Validation::default(),
        Validation::oidc_id_token("https://issuer.example", "client"),
    ] {
        let _ = verify(token, Keys::Jwks(&jwks), &validation, 1_767_225_600);
    }
});
