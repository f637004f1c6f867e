//! shield's rate limits cannot be turned against a project, and a share write's retry answers
//! what the first write answered (docs/shield.md, "Design: rate limit" and "Design: share
//! routes", retries), through `keyward serve` on both passes of `cargo xtask test`.
//!
//! Two client addresses without a proxy: all of 127.0.0.0/8 reaches the loopback interface, so a
//! socket bound to 127.0.0.2 is another peer to the host than the test kit's client.

use std::net::{IpAddr, Ipv4Addr};

use jwt_verify::test_signer::{hs256_token, public_pem_of, sign_as};
use keyward_e2e::loopback::send_from;
use keyward_e2e::shield::builder;
use keyward_e2e::{Host, Value, json};
use keyward_test_kit::scenarios::shield::{
    self as scenarios, Done as _, Keys, User, pem_project, project_share, token, user_share,
};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn install_keys() {
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: hs256_token,
    });
}

/// One HTTP/1.1 GET to `h` from the local address `from`; the status.
fn get_from(h: &Host, from: IpAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    send_from(h, from, "GET", path, headers, "").status
}

// docs/shield.md, "Design: rate limit"
#[test]
fn a_flood_of_bad_tokens_does_not_lock_out_the_projects_users() {
    install_keys();
    let h = builder()
        .env("SPIN_VARIABLE_RATE_LIMIT_REQUESTS", "5")
        .env("SPIN_VARIABLE_RATE_LIMIT_WINDOW_MS", "3600000")
        .start();
    let p = pem_project(&h, "RS256", false);
    let headers = [
        ("X-API-Key", p.key.as_str()),
        ("X-Auth-Provider", "custom"),
        ("Authorization", "Bearer not-a-token-of-this-provider"),
    ];
    // The attacker's address: five failures answered as ever, then refused before the token is
    // looked at.
    let statuses: Vec<u16> = (0..30)
        .map(|_| get_from(&h, ATTACKER, "/keychain", &headers))
        .collect();
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // The project's user, from 127.0.0.1, is not affected: the flood spent nothing of the
    // project's budget (5: the provider's setup and these four).
    let alice = token(&h, "RS256", "alice");
    for _ in 0..4 {
        p.custom(&alice).get("/keychain").done(200);
    }
    let r = p.custom(&alice).get("/keychain");
    r.assert_error_message(429, "RATE_LIMITED", "Rate limit exceeded");
    assert!(r.header("retry-after").is_some());
}

/// `share` written twice is 201 both times; other content under its reference is 409.
fn retry_then_conflict(alice: &User<'_>, share: &Value) {
    alice.post("/shares", share).done(201);
    alice.post("/shares", share).done(201);
    let mut other = share.clone();
    other["secret"] = json!("another");
    alice
        .post("/shares", &other)
        .assert_error_message(409, "SH_EXISTS", "Share already exists");
}

// docs/shield.md, "Design: share routes", retries
#[test]
fn a_retried_share_write_is_201_and_different_content_409() {
    install_keys();
    let h = builder().start();
    let p = pem_project(&h, "RS256", true);
    let part = p.part.clone().expect("part");
    let alice = p.custom(&token(&h, "RS256", "alice"));
    let share = user_share(None);
    retry_then_conflict(&alice, &share);
    // Through a session the first write consumed.
    let session = p.session(&part);
    let stored = project_share("r1", None, Some(&session));
    retry_then_conflict(&alice, &stored);
    let read = alice
        .headers(&[("X-Encryption-Part", &part)])
        .get("/shares/r1")
        .done(200);
    assert_eq!(read["secret"], "secret-r1");
}
