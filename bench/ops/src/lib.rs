//! The crypto loops of keyward-bench's microbenchmarks, compiled twice: natively into
//! `keyward-bench` and to wasm into `tests/guests/bench-guest`, so both sides run the same code
//! by construction. Each loop folds every output byte into its result; equal results on both
//! sides mean equal outputs.
//!
//! Test-only code: a broken fixture panics.

/// Runs `op` `n` times over `input` (only `jwt-rs256` reads it: token, newline, JWKS document)
/// and returns the loop's result; `None` for an unknown op.
pub fn run(op: &str, n: u64, input: &[u8]) -> Option<u64> {
    Some(match op {
        "secp256k1" => secp256k1(n),
        "aes-gcm" => aes_gcm(n),
        "hmac-sha512" => hmac_sha512(n),
        "hd-sign" => hd_sign(n),
        "account-sign" => account_sign(n),
        "jwt-rs256" => jwt_rs256(n, input),
        "audit-link" => audit_link(n),
        _ => return None,
    })
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

/// What `POST /guardian/sign` computes per request (docs/guardian.md, "Design: keys"): the
/// sealing key from master_key (HKDF), the AES-GCM open of the user's sealed account key
/// (m/44'/60'/0'/0), its one non-hardened child derivation (m/…/0), then one sign. The envelope
/// is sealed once before the loop (one HKDF and one AES-GCM seal, a few µs, inside the `n=1`
/// figure).
fn account_sign(n: u64) -> u64 {
    let master = envelope::MasterKey::from_bytes([9u8; 32]);
    let info = sealed_columns::guardian::ACCOUNT_KEY_INFO;
    let aad = sealed_columns::guardian::aad_account_key("okta:00ubench");
    let account = guardian_core::hex::decode(HARDHAT_ACCOUNT_KEY).expect("hex");
    let sealed = envelope::Sealer::new(&master, info)
        .expect("sealer")
        .seal(&account, aad.as_bytes())
        .expect("seal");
    let mut acc = 0u64;
    for i in 0..n {
        let sealer = envelope::Sealer::new(&master, info).expect("sealer");
        let plain = sealer.open(&sealed, aad.as_bytes()).expect("open");
        let account = guardian_core::hd::AccountKey::from_bytes(&plain).expect("account key");
        let key = account.derive_key(0).expect("derive");
        let mut digest = [1u8; 32];
        digest[..8].copy_from_slice(&i.to_le_bytes());
        let sig = key.sign_digest(&digest).expect("sign");
        acc = fold(acc, &sig.to_bytes());
    }
    acc
}

const HARDHAT: &str = "test test test test test test test test test test test junk";

/// [`HARDHAT`]'s account key (m/44'/60'/0'/0) as guardian stores it sealed: chain code, key,
/// compressed public key (`guardian_core::hd::AccountKey::to_bytes`). A public test key.
const HARDHAT_ACCOUNT_KEY: &str = "0x236a4a5d77e29cc09182a8a6c9d288cb04e638fcd0743bbc068c16665d1e4d2c\
    dd23ca549a97cb330b011aebb674730df8b14acaee42d211ab45692699ab8ba5\
    03b93015e4ada498248da1ed7041e749ccb07a4489e2e33b38405f5c93d44703e9";

/// What `POST /guardian/sign` computed per request before the account key was stored, and
/// what a user's key creation and a pre-existing user's first signature still compute once the
/// mnemonic is open: the BIP39 seed (PBKDF2-HMAC-SHA512, 2048 rounds), BIP32 derivation of
/// m/44'/60'/0'/0/0, then one sign.
fn hd_sign(n: u64) -> u64 {
    let mnemonic = guardian_core::Mnemonic::parse(HARDHAT).expect("mnemonic");
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

/// One audit record's link as every audited request computes it: the chain key derived from
/// master_key (HKDF-SHA256, then its key id) and one HMAC-SHA256 over a typical record.
fn audit_link(n: u64) -> u64 {
    let master = envelope::MasterKey::from_bytes([9u8; 32]);
    let mut record = audit_chain::Record {
        time_ms: 1_767_225_600_000,
        request_id: "0190a6f27c1e7d3a9b2c5e4f3a2b1c0d".into(),
        service: "keyservice".into(),
        action: "key.read".into(),
        outcome: "success".into(),
        actor: "namespace=bench user=user-0001".into(),
        client: "127.0.0.1".into(),
        object: "key".into(),
        details: "{}".into(),
        ..audit_chain::Record::default()
    };
    let mut prev = audit_chain::GENESIS;
    let mut acc = 0u64;
    for i in 0..n {
        let key = audit_chain::ChainKey::derive(&master).expect("chain key");
        record.seq = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        record.key_id = key.id().to_owned();
        prev = key.link(&prev, &record);
        acc = fold(acc, &prev);
    }
    acc
}

/// Folds every output byte into the loop's result, so equal results mean equal outputs.
fn fold(acc: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(acc, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
}
