#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

use super::*;

const MASTER: &str = "m3UdRrBMXZez4A7OKiH9U0vetjLIqQy7l0cbgpu1X4M=";

fn key() -> ChainKey {
    ChainKey::derive(&MasterKey::parse(MASTER).unwrap()).unwrap()
}

fn record(seq: i64, action: &str) -> Record {
    Record {
        seq,
        time_ms: 1_767_225_600_000 + seq,
        request_id: format!("req-{seq}"),
        service: "keyservice".into(),
        action: action.into(),
        outcome: "success".into(),
        code: String::new(),
        actor: "namespace=acme user=alice".into(),
        client: "203.0.113.7".into(),
        object: "key".into(),
        details: "{}".into(),
        key_id: key().id().to_owned(),
    }
}

/// A chain of `n` records with their links, as the services write it.
fn chain(n: i64) -> Vec<(Record, String)> {
    let k = key();
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let r = record(
                seq,
                if seq % 2 == 0 {
                    "key.read"
                } else {
                    "key.store"
                },
            );
            prev = k.link(&prev, &r);
            (r, hex::encode(prev))
        })
        .collect()
}

fn verify(links: &[(Record, String)]) -> Result<i64, Break> {
    let keys = [key()];
    let mut v = Verifier::new(&keys);
    for (r, mac) in links {
        v.push(r, mac)?;
    }
    Ok(v.last())
}

#[test]
fn the_format_is_pinned() {
    // Computed independently (Python: hmac, hashlib, HKDF by hand) from the format above.
    // Changing the MAC input, the key derivation or the key id breaks every stored chain:
    // these values may only change together with a new KEY_INFO and DOMAIN.
    let k = key();
    assert_eq!(k.id(), "63f015cba3a839d6");
    assert_eq!(
        hex::encode(k.link(&GENESIS, &record(1, "key.store"))),
        "7b4be90b5178b4320fd1d307fd7cfa66b24ad82b863bf16a0a1e077476a6a17c"
    );
}

#[test]
fn an_untouched_chain_verifies_and_its_head_matches() {
    let links = chain(5);
    assert_eq!(verify(&links), Ok(5));
    let keys = [key()];
    let mut v = Verifier::new(&keys);
    for (r, mac) in &links {
        v.push(r, mac).unwrap();
    }
    assert_eq!(v.finish(5, &links[4].1), Ok(()));
    assert_eq!(
        v.finish(6, &links[4].1),
        Err(Break::Head {
            head_seq: 6,
            last_seq: 5
        })
    );
    assert_eq!(v.finish(5, &links[3].1), Err(Break::HeadMac { seq: 5 }));
    assert_eq!(Verifier::new(&keys).finish(0, ""), Ok(()));
}

#[test]
fn every_field_is_covered() {
    let edits: [fn(&mut Record); 12] = [
        |_| {}, // the sequence number: checked by order, see the removal test
        |r| r.time_ms += 1,
        |r| r.request_id.push('x'),
        |r| r.service = "shield".into(),
        |r| r.action = "key.delete".into(),
        |r| r.outcome = "failure".into(),
        |r| r.code = "UNAUTHORIZED".into(),
        |r| r.actor = "namespace=acme user=mallory".into(),
        |r| r.client = "198.51.100.1".into(),
        |r| r.object = "other".into(),
        |r| r.details = "{\"a\":1}".into(),
        |r| r.key_id = "0000000000000000".into(),
    ];
    for (i, edit) in edits.iter().enumerate().skip(1) {
        let mut links = chain(4);
        edit(&mut links[2].0);
        let err = verify(&links).unwrap_err();
        assert!(
            matches!(
                err,
                Break::Mac { seq: 3 } | Break::UnknownKey { seq: 3, .. }
            ),
            "edit {i}: {err:?}"
        );
    }
}

#[test]
fn removed_inserted_and_swapped_records_break_the_chain_where_they_are() {
    let mut removed = chain(5);
    removed.remove(2);
    assert_eq!(
        verify(&removed),
        Err(Break::Sequence {
            previous: 2,
            expected: 3,
            found: 4
        })
    );

    // Renumbered after a removal: the sequence is right, the link is not.
    let mut renumbered = chain(5);
    renumbered.remove(2);
    for (r, _) in renumbered.iter_mut().skip(2) {
        r.seq -= 1;
    }
    assert_eq!(verify(&renumbered), Err(Break::Mac { seq: 3 }));

    // Swapped: two records' contents trade places (each keeps its position's number).
    let mut swapped = chain(5);
    let (a, b) = (swapped[1].clone(), swapped[2].clone());
    swapped[1] = (Record { seq: 2, ..b.0 }, b.1);
    swapped[2] = (Record { seq: 3, ..a.0 }, a.1);
    assert_eq!(verify(&swapped), Err(Break::Mac { seq: 2 }));

    // Inserted: a forged record with a made-up link.
    let mut inserted = chain(5);
    let mut forged = record(3, "key.read");
    forged.actor = "admin".into();
    inserted.insert(2, (forged, hex::encode([7u8; 32])));
    for (r, _) in inserted.iter_mut().skip(3) {
        r.seq += 1;
    }
    assert_eq!(verify(&inserted), Err(Break::Mac { seq: 3 }));

    let mut malformed = chain(2);
    malformed[1].1 = "zz".into();
    assert_eq!(verify(&malformed), Err(Break::Malformed { seq: 2 }));
}

#[test]
fn another_master_key_cannot_make_or_check_links() {
    let other = ChainKey::derive(&MasterKey::from_bytes([9; 32])).unwrap();
    assert_ne!(other.id(), key().id());
    let keys = [other];
    let links = chain(1);
    assert!(matches!(
        Verifier::new(&keys).push(&links[0].0, &links[0].1),
        Err(Break::UnknownKey { seq: 1, .. })
    ));
}

#[test]
fn fields_are_bounded_at_a_character_boundary() {
    assert_eq!(bounded("abc"), "abc");
    let long = "é".repeat(MAX_FIELD_BYTES);
    let cut = bounded(&long);
    assert!(cut.len() <= MAX_FIELD_BYTES && cut.chars().all(|c| c == 'é'));
    assert_eq!(cut.len(), MAX_FIELD_BYTES);
}

#[test]
fn records_round_trip_through_json() {
    let r = record(1, "key.read");
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
}
