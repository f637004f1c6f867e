//! The native side of the crypto microbenchmarks: the loops of `bench-ops`, which
//! `tests/guests/bench-guest` runs inside wasm.

use std::time::Instant;

/// Runs `op` `n` times natively; returns the elapsed nanoseconds and the loop's result (which the
/// bench compares with the wasm loop's: same inputs, same answer).
pub fn run(op: &str, n: u64, input: &[u8]) -> (u128, u64) {
    let start = Instant::now();
    let sink = bench_ops::run(op, n, input).unwrap_or_else(|| panic!("unknown op {op}"));
    let elapsed = start.elapsed().as_nanos();
    (elapsed, std::hint::black_box(sink))
}

/// The input of `op` (sent as the request body to the bench guest): for `jwt-rs256`, a token of
/// the bench's custom provider and its JWKS document; nothing for the others.
pub fn input(op: &str) -> Vec<u8> {
    if op != "jwt-rs256" {
        return Vec::new();
    }
    let signer = crate::stub::signer();
    let token = signer.sign(&serde_json::json!({"sub": "bench-user", "exp": 1_900_000_000u64}));
    format!(
        "{token}\n{}",
        jwt_verify::test_signer::jwks_json(&[&signer])
    )
    .into_bytes()
}
