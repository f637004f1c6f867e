//! The envelope vector (docs/keyservice.md, "Design: test vectors"), the failure modes of
//! envelopes, and master-key rotation.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use envelope::{EnvelopeError, Keyring, MasterKey, MasterKeyError, Sealer};

const MASTER: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";
const INFO: &[u8] = b"keyward/keyservice/value/v1";
const AAD: &[u8] = b"keyservice|my_cool_website|347";
const NONCE: &str = "3dbee4a563ccca837605cf34";
const PLAINTEXT: &[u8] =
    br#"{"kty":"oct","alg":"A256GCM","k":"_86LpU8FeJ9ahn-47_AuRnKuiGM2HsyzalBj4KOlTs8"}"#;
const ENVELOPE: &str = "AT2+5KVjzMqDdgXPNLXZOUsfj5uIk+kltgItCECqZabNzww+QbDN1E5NrgJMcLMtXzeA9H1V2nBNGBDnvDRudxCcLAgSaNZnKUGkcD5F4/ZQdtCrvzrZaTMjnBMGIz+Jejw+pZFXxeGMdpCA";

fn sealer() -> Sealer {
    Sealer::new(&MasterKey::parse(MASTER).unwrap(), INFO).unwrap()
}

fn nonce() -> [u8; 12] {
    hex::decode(NONCE).unwrap().try_into().unwrap()
}

fn master_bytes() -> Vec<u8> {
    STANDARD.decode(MASTER).unwrap()
}

#[test]
fn spec_vector_seals_exactly() {
    assert_eq!(PLAINTEXT.len(), 79);
    let env = sealer()
        .seal_v1_with_nonce(PLAINTEXT, AAD, &nonce())
        .unwrap();
    assert_eq!(env, ENVELOPE);
}

#[test]
fn spec_vector_opens_and_fails_with_other_aad() {
    let s = sealer();
    assert_eq!(s.open(ENVELOPE, AAD).unwrap(), PLAINTEXT);
    assert_eq!(
        s.open(ENVELOPE, b"keyservice|my_cool_website|348"),
        Err(EnvelopeError::Decrypt)
    );
    assert_eq!(s.open(ENVELOPE, b""), Err(EnvelopeError::Decrypt));
}

#[test]
fn other_info_or_master_key_cannot_open() {
    let m = MasterKey::parse(MASTER).unwrap();
    let other_info = Sealer::new(&m, b"keyward/keyservice/init-token/v1").unwrap();
    assert_eq!(other_info.open(ENVELOPE, AAD), Err(EnvelopeError::Decrypt));
    let other_key = Sealer::new(&MasterKey::from_bytes([9; 32]), INFO).unwrap();
    assert_eq!(other_key.open(ENVELOPE, AAD), Err(EnvelopeError::Decrypt));
}

#[test]
fn seal_round_trips_with_fresh_nonces() {
    let s = sealer();
    for pt in [&b""[..], b"\x00", b"\xff\xfe invalid utf8", &[0u8; 70_000]] {
        let a = s.seal(pt, AAD).unwrap();
        let b = s.seal(pt, AAD).unwrap();
        assert_ne!(a, b, "nonce must differ per seal");
        assert_eq!(s.open(&a, AAD).unwrap(), pt);
        assert_eq!(s.open(&b, AAD).unwrap(), pt);
        let raw = STANDARD.decode(&a).unwrap();
        assert_eq!(raw[0], 0x02);
        assert_eq!(raw[1..5], MasterKey::parse(MASTER).unwrap().id().unwrap());
        assert_eq!(raw.len(), 1 + 4 + 12 + pt.len() + 16);
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let s = sealer();
    let raw = STANDARD.decode(ENVELOPE).unwrap();
    for i in 0..raw.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = raw.clone();
            t[i] ^= bit;
            let expect = if i == 0 {
                EnvelopeError::Malformed
            } else {
                EnvelopeError::Decrypt
            };
            assert_eq!(s.open(&STANDARD.encode(&t), AAD), Err(expect), "byte {i}");
        }
    }
}

#[test]
fn truncation_and_extension_fail() {
    let s = sealer();
    let raw = STANDARD.decode(ENVELOPE).unwrap();
    for len in 0..raw.len() {
        let r = s.open(&STANDARD.encode(&raw[..len]), AAD);
        let expect = if len < 29 {
            EnvelopeError::Malformed
        } else {
            EnvelopeError::Decrypt
        };
        assert_eq!(r, Err(expect), "len {len}");
    }
    let mut longer = raw.clone();
    longer.push(0);
    assert_eq!(
        s.open(&STANDARD.encode(&longer), AAD),
        Err(EnvelopeError::Decrypt)
    );
    // Cutting characters off the base64 text itself.
    for cut in 1..8 {
        assert!(s.open(&ENVELOPE[..ENVELOPE.len() - cut], AAD).is_err());
    }
}

#[test]
fn malformed_text_is_rejected_without_panic() {
    let s = sealer();
    let raw = STANDARD.decode(ENVELOPE).unwrap();
    let cases = [
        String::new(),
        "not base64!".to_owned(),
        URL_SAFE.encode(&raw), // other alphabet (this vector contains '+' and '/')
        STANDARD_NO_PAD.encode(&raw[..107]), // padding is required when due (108 needs none)
        format!(" {ENVELOPE}"),
        format!("{ENVELOPE}\n"),
        "é".repeat(40),
        STANDARD.encode([0x03u8; 40]), // unknown version
        STANDARD.encode([0x02u8; 32]), // v2 one byte short of an empty-plaintext envelope
        STANDARD.encode([0x01u8; 28]), // one byte short of an empty-plaintext envelope
    ];
    for c in &cases {
        assert_eq!(s.open(c, AAD), Err(EnvelopeError::Malformed), "{c:?}");
    }
    // A minimal well-formed but forged envelope fails authentication.
    assert_eq!(
        s.open(&STANDARD.encode([0x01u8; 29]), AAD),
        Err(EnvelopeError::Decrypt)
    );
}

#[test]
fn row_swap_fails() {
    // Checklist item 24 (docs/keyservice.md, "Conformance checklist") at the library level: user 347's value in user 348's row.
    let s = sealer();
    let for_347 = s.seal(b"secret of 347", b"keyservice|ns|347").unwrap();
    assert_eq!(
        s.open(&for_347, b"keyservice|ns|348"),
        Err(EnvelopeError::Decrypt)
    );
}

#[test]
fn master_key_accepts_all_base64_variants() {
    let bytes = master_bytes();
    let expected = sealer().seal_v1_with_nonce(b"x", b"a", &nonce()).unwrap();
    let forms = [
        STANDARD.encode(&bytes),
        STANDARD_NO_PAD.encode(&bytes),
        URL_SAFE.encode(&bytes),
        URL_SAFE_NO_PAD.encode(&bytes),
    ];
    for f in &forms {
        let s = Sealer::new(&MasterKey::parse(f).unwrap(), INFO).unwrap();
        assert_eq!(
            s.seal_v1_with_nonce(b"x", b"a", &nonce()).unwrap(),
            expected,
            "{f}"
        );
    }
    // A key whose encodings differ between alphabets ('+'/'/' vs '-'/'_').
    let k = [0xfb, 0xff, 0xbf].repeat(11)[..32].to_vec();
    let std = STANDARD.encode(&k);
    let url = URL_SAFE.encode(&k);
    assert!(std.contains('+') || std.contains('/'));
    assert!(url.contains('-') || url.contains('_'));
    for f in [
        &std,
        &url,
        &STANDARD_NO_PAD.encode(&k),
        &URL_SAFE_NO_PAD.encode(&k),
    ] {
        MasterKey::parse(f).unwrap();
    }
    // Mixing alphabets is not base64 in either.
    let mixed = std.replacen('+', "-", 1);
    assert!(mixed.contains('/') && mixed.contains('-'));
    assert_eq!(MasterKey::parse(&mixed).unwrap_err(), MasterKeyError);
}

#[test]
fn master_key_rejects_everything_else() {
    let bytes = master_bytes();
    let cases = [
        String::new(),
        STANDARD.encode(&bytes[..31]),
        STANDARD.encode([bytes.as_slice(), &[0]].concat()),
        STANDARD.encode([0u8; 16]),
        STANDARD.encode([0u8; 64]),
        hex::encode(&bytes), // 64 hex chars
        format!("{MASTER}\n"),
        format!(" {MASTER}"),
        format!("{MASTER}="),           // over-padded
        MASTER.replace("X4M=", "X4N="), // non-canonical trailing bits
        "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=".replace('=', "!"),
        "é".repeat(22),
    ];
    for c in &cases {
        let e = MasterKey::parse(c).unwrap_err();
        assert_eq!(e, MasterKeyError, "{c:?}");
        // The error text never echoes the input.
        assert!(!e.to_string().contains(c.trim()) || c.trim().is_empty());
    }
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

#[test]
fn the_key_id_is_pinned() {
    // HKDF-SHA256(master, info "keyward/master-key/id", 4 bytes), computed independently.
    assert_eq!(
        hex::encode(MasterKey::parse(MASTER).unwrap().id().unwrap()),
        "3d0d3630"
    );
    assert_ne!(key(1).id().unwrap(), key(2).id().unwrap());
}

#[test]
fn after_a_rotation_everything_sealed_before_still_opens() {
    let (old, new) = (key(1), key(2));
    let before = Sealer::new(&old, INFO).unwrap();
    let v2 = before.seal(b"sealed before", AAD).unwrap();
    let v1 = before
        .seal_v1_with_nonce(b"sealed long before", AAD, &nonce())
        .unwrap();

    let ring = Keyring::new(new.clone(), vec![old.clone()]);
    let after = Sealer::with_keyring(&ring, INFO).unwrap();
    assert_eq!(after.open(&v2, AAD).unwrap(), b"sealed before");
    assert_eq!(after.open(&v1, AAD).unwrap(), b"sealed long before");
    assert!(!after.is_current(&v2) && !after.is_current(&v1));

    // New values are sealed under the new key, which the old ring does not hold.
    let sealed_after = after.seal(b"sealed after", AAD).unwrap();
    assert!(after.is_current(&sealed_after));
    assert_eq!(
        before.open(&sealed_after, AAD),
        Err(EnvelopeError::UnknownKey)
    );

    // Once the previous key is removed, what it sealed no longer opens.
    let only_new = Sealer::new(&new, INFO).unwrap();
    assert_eq!(only_new.open(&v2, AAD), Err(EnvelopeError::UnknownKey));
    assert_eq!(only_new.open(&v1, AAD), Err(EnvelopeError::Decrypt));
    assert_eq!(only_new.open(&sealed_after, AAD).unwrap(), b"sealed after");
}

#[test]
fn a_key_id_pointing_at_another_key_fails_authentication() {
    let (a, b) = (key(1), key(2));
    let ring = Keyring::new(a.clone(), vec![b.clone()]);
    let s = Sealer::with_keyring(&ring, INFO).unwrap();
    let mut raw = STANDARD.decode(s.seal(b"x", AAD).unwrap()).unwrap();
    raw[1..5].copy_from_slice(&b.id().unwrap());
    assert_eq!(
        s.open(&STANDARD.encode(&raw), AAD),
        Err(EnvelopeError::Decrypt)
    );
}

#[test]
fn the_previous_keys_variable_is_a_comma_separated_list() {
    let b64 = |k: u8| STANDARD.encode([k; 32]);
    let ring = Keyring::parse(&b64(1), &format!(" {} ,{},", b64(2), b64(3))).unwrap();
    let ids: Vec<_> = ring.keys().map(|k| k.id().unwrap()).collect();
    assert_eq!(
        ids,
        [
            key(1).id().unwrap(),
            key(2).id().unwrap(),
            key(3).id().unwrap()
        ]
    );
    assert_eq!(Keyring::parse(&b64(1), "").unwrap().keys().count(), 1);
    assert_eq!(
        Keyring::parse(&b64(1), "not-a-key").unwrap_err(),
        MasterKeyError
    );
    assert_eq!(Keyring::parse("", "").unwrap_err(), MasterKeyError);
}
