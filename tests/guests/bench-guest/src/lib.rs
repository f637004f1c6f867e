//! A test-only guest for `keyward-bench`. Routes (the bench mounts it at `/bench/...`):
//!
//! - `GET /bench/noop`: answers `ok` at once (per-request instantiation + routing cost).
//! - `GET /bench/<op>?n=<N>` with `op` = `secp256k1`, `hd-sign`, `aes-gcm`, `hmac-sha512` or
//!   `jwt-rs256` (a POST whose body is the token, a newline and the JWKS document):
//!   runs the operation N times and answers the elapsed nanoseconds as decimal text (timed from
//!   before any setup, so `n=1` is the whole cost of one operation in a fresh instance). The loops
//!   are the same as the native ones in `bench/src/micro.rs`.

use std::time::Instant;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    let n: u64 = req
        .query()
        .split('&')
        .find_map(|kv| kv.strip_prefix("n="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let op = path.rsplit('/').next().unwrap_or_default();
    let start = Instant::now();
    let sink = match op {
        "noop" => return Response::new(200, "ok"),
        "secp256k1" => secp256k1(n),
        "aes-gcm" => aes_gcm(n),
        "hmac-sha512" => hmac_sha512(n),
        "hd-sign" => hd_sign(n),
        "jwt-rs256" => jwt_rs256(n, req.body()),
        _ => return Response::new(404, "unknown op"),
    };
    let elapsed = start.elapsed().as_nanos();
    Response::new(200, format!("{elapsed} {sink}"))
}

/// secp256k1 ECDSA (RFC 6979, recoverable) over a 32-byte digest, as guardian signs.
fn secp256k1(n: u64) -> u64 {
    let key = guardian_core::PrivateKey::from_bytes(&[7u8; 32]).expect("valid key");
    let mut digest = [1u8; 32];
    let mut acc = 0u64;
    for i in 0..n {
        digest[..8].copy_from_slice(&i.to_le_bytes());
        let sig = key.sign_digest(&digest).expect("sign");
        acc = fold(acc, &sig.to_bytes());
    }
    acc
}

/// What `POST /guardian/sign` computes per request once the mnemonic is open: the BIP39 seed
/// (PBKDF2-HMAC-SHA512, 2048 rounds), BIP32 derivation of m/44'/60'/0'/0/0, then one sign.
fn hd_sign(n: u64) -> u64 {
    let mnemonic = guardian_core::Mnemonic::parse(
        "test test test test test test test test test test test junk",
    )
    .expect("mnemonic");
    let mut acc = 0u64;
    for i in 0..n {
        let key = mnemonic.derive_key(0).expect("derive");
        let mut digest = [1u8; 32];
        digest[..8].copy_from_slice(&i.to_le_bytes());
        let sig = key.sign_digest(&digest).expect("sign");
        acc = fold(acc, &sig.to_bytes());
    }
    acc
}

/// A custom-provider JWT check as shield does it per `GET /shares`: parse the cached JWKS document,
/// verify the RS256 token against it (`input` = token, newline, JWKS JSON).
fn jwt_rs256(n: u64, input: &[u8]) -> u64 {
    let text = std::str::from_utf8(input).expect("utf-8 input");
    let (token, jwks) = text.split_once('\n').expect("token and JWKS");
    let mut acc = 0u64;
    for _ in 0..n {
        let keys = jwt_verify::Jwks::parse(jwks.as_bytes()).expect("JWKS");
        let verified = jwt_verify::verify(
            token,
            jwt_verify::Keys::Jwks(&keys),
            &jwt_verify::Validation::default(),
            1_800_000_000,
        )
        .expect("valid token");
        acc = fold(acc, verified.sub.as_bytes());
    }
    acc
}

/// Envelope v1 seal + open of a 32-byte key (AES-256-GCM), as keyservice stores keys.
fn aes_gcm(n: u64) -> u64 {
    let master = envelope::MasterKey::from_bytes([9u8; 32]);
    let sealer = envelope::Sealer::new(&master, b"bench").expect("sealer");
    let mut acc = 0u64;
    for _ in 0..n {
        let ct = sealer.seal(&[5u8; 32], b"aad").expect("seal");
        let pt = sealer.open(&ct, b"aad").expect("open");
        acc = fold(acc, &pt);
    }
    acc
}

/// HMAC-SHA512 over a 200-byte message, the ss1 signature primitive.
fn hmac_sha512(n: u64) -> u64 {
    use hmac::{KeyInit, Mac};
    let msg = [3u8; 200];
    let mut acc = 0u64;
    for _ in 0..n {
        let mut mac =
            <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(b"secret").expect("key");
        mac.update(&msg);
        acc = fold(acc, &mac.finalize().into_bytes());
    }
    acc
}

/// Folds every output byte into the loop's result, so equal results mean equal outputs.
fn fold(acc: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(acc, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
}
