//! The native side of the crypto microbenchmarks: the same loops as
//! `tests/guests/bench-guest/src/lib.rs`, which runs them inside wasm.

use std::time::Instant;

/// Runs `op` `n` times natively; returns the elapsed nanoseconds.
pub fn run(op: &str, n: u64) -> u128 {
    let start = Instant::now();
    let sink = match op {
        "secp256k1" => secp256k1(n),
        "aes-gcm" => aes_gcm(n),
        "hmac-sha512" => hmac_sha512(n),
        _ => panic!("unknown op {op}"),
    };
    let elapsed = start.elapsed().as_nanos();
    std::hint::black_box(sink);
    elapsed
}

/// secp256k1 ECDSA (RFC 6979, recoverable) over a 32-byte digest, as guardian signs.
fn secp256k1(n: u64) -> u64 {
    let key = guardian_core::PrivateKey::from_bytes(&[7u8; 32]).expect("valid key");
    let mut digest = [1u8; 32];
    let mut acc = 0u64;
    for i in 0..n {
        digest[..8].copy_from_slice(&i.to_le_bytes());
        let sig = key.sign_digest(&digest).expect("sign");
        acc = acc.wrapping_add(u64::from(sig.to_bytes()[0]));
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
        acc = acc.wrapping_add(u64::from(pt[0]));
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
        acc = acc.wrapping_add(u64::from(mac.finalize().into_bytes()[0]));
    }
    acc
}
