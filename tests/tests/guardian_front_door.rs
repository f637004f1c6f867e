//! guardian's front door (docs/guardian.md, "Design: login" and "Design: CORS"): the Okta push
//! wait ends inside the host's request deadline, login rate limits key on the real client
//! (behind trusted proxies too) and count only failed identity checks per username and client,
//! and browser wallets on an allowed origin may call the enduser routes cross-origin. Runs on
//! both passes of `cargo xtask test`.
//!
//! Two client addresses without a proxy: all of 127.0.0.0/8 reaches the loopback interface, so a
//! socket bound to 127.0.0.2 or 127.0.0.3 is another peer to the host.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use keyward_e2e::guardian as gd;
use keyward_e2e::loopback::send_from;
use keyward_e2e::{Host, Resp, json};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const VICTIM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

const WALLET: &str = "https://wallet.example";

fn login_from(h: &Host, from: IpAddr, user: &str, password: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let body = json!({"okta_username": user, "okta_password": password}).to_string();
    send_from(h, from, "POST", "/guardian/login", &headers, &body)
}

// ---- (a) the push wait fits inside the request deadline ------------------------------------

/// A push that stays WAITING ends in 401 `MFA_TIMEOUT` after the transaction was cancelled at
/// Okta, before the host's 30 s deadline would answer 504: with the defaults, and with a
/// configured wait longer than the deadline.
#[test]
fn an_unanswered_push_times_out_before_the_request_deadline() {
    let okta = gd::okta_stub();
    let defaults = gd::host(okta.port, 1, &[]);
    let too_long = gd::host(okta.port, 1, &[("okta_mfa_timeout_seconds", "60")]);
    let waits = [(&defaults, "hang-default"), (&too_long, "hang-configured")].map(|(h, user)| {
        let base = h.base.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let r = keyward_e2e::request(
                "POST",
                &format!("{base}/guardian/login"),
                &[("content-type", "application/json")],
                Some(
                    json!({"okta_username": user, "okta_password": "pw"})
                        .to_string()
                        .as_bytes(),
                ),
            );
            (r, start.elapsed())
        })
    });
    for wait in waits {
        let (r, took) = wait.join().expect("login thread");
        gd::expect_error(&r, 401, "MFA_TIMEOUT");
        assert!(took < Duration::from_secs(29), "{took:?}");
        assert!(took >= Duration::from_secs(20), "gave up early: {took:?}");
    }
    let cancels = okta
        .requests()
        .iter()
        .filter(|r| r.target == "/api/v1/authn/cancel")
        .count();
    assert_eq!(cancels, 2, "each transaction is cancelled at Okta");
}

// ---- (b) login rate limits --------------------------------------------------------------------

/// Failures from one address do not lock the user out from another, successful logins are not
/// counted, and the failures of one (username, address) are limited.
#[test]
fn failed_logins_elsewhere_cannot_lock_a_user_out() {
    let okta = gd::okta_stub();
    let h = gd::host(
        okta.port,
        1,
        &[
            ("login_user_rate_limit_per_minute", "3"),
            ("login_rate_limit_per_minute", "100"),
        ],
    );
    for _ in 0..3 {
        gd::expect_error(
            &login_from(&h, ATTACKER, "victim", "bad", &[]),
            401,
            "IDP_INVALID_CREDENTIALS",
        );
    }
    let r = login_from(&h, ATTACKER, "victim", "bad", &[]);
    gd::expect_error(&r, 429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
    // Refused before Okta is asked: the right password from that address is refused too.
    let asked = okta.requests().len();
    gd::expect_error(
        &login_from(&h, ATTACKER, "victim", "pw", &[]),
        429,
        "RATE_LIMITED",
    );
    assert_eq!(okta.requests().len(), asked);
    // The user, from their own address, logs in as often as they like.
    for _ in 0..5 {
        let r = login_from(&h, VICTIM, "victim", "pw", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Another user from the attacker's address is not affected.
    assert_eq!(login_from(&h, ATTACKER, "someone", "pw", &[]).status, 200);
}

/// Behind a trusted proxy each client has its own per-address bucket, named by the rightmost
/// `X-Forwarded-For` entry that is not a trusted proxy; an untrusted peer's header is ignored.
#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let okta = gd::okta_stub();
    let h = gd::host(
        okta.port,
        1,
        &[
            ("login_rate_limit_per_minute", "2"),
            ("login_user_rate_limit_per_minute", "100"),
            ("guardian_trusted_proxies", "127.0.0.1, 10.0.0.0/8"),
        ],
    );
    let via =
        |xff: &str, user: &str| login_from(&h, PROXY, user, "pw", &[("x-forwarded-for", xff)]);
    assert_eq!(via("198.51.100.1", "a1").status, 200);
    // The client spoofs an entry on the left; the proxy chain appends the real one.
    assert_eq!(via("203.0.113.9, 198.51.100.1, 10.1.2.3", "a2").status, 200);
    gd::expect_error(&via("198.51.100.1", "a3"), 429, "RATE_LIMITED");
    // Another client behind the same proxy.
    assert_eq!(via("198.51.100.2", "b1").status, 200);
    assert_eq!(via("198.51.100.2", "b2").status, 200);
    // A malformed header counts against the proxy itself.
    assert_eq!(via("not-an-address", "c1").status, 200);
    assert_eq!(via("198.51.100.3, junk", "c2").status, 200);
    gd::expect_error(&via("", "c3"), 429, "RATE_LIMITED");
    // A peer that is not a trusted proxy cannot pick its bucket.
    let direct =
        |xff: &str, user: &str| login_from(&h, ATTACKER, user, "pw", &[("x-forwarded-for", xff)]);
    assert_eq!(direct("192.0.2.1", "d1").status, 200);
    assert_eq!(direct("192.0.2.2", "d2").status, 200);
    gd::expect_error(&direct("192.0.2.3", "d3"), 429, "RATE_LIMITED");
}

// ---- (c) CORS ---------------------------------------------------------------------------------

fn preflight(h: &Host, path: &str, origin: &str, method: &str) -> Resp {
    send_from(
        h,
        PROXY,
        "OPTIONS",
        path,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
        "",
    )
}

fn has_token(list: Option<&str>, wanted: &str) -> bool {
    list.unwrap_or("")
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(wanted))
}

#[test]
fn browser_wallets_on_an_allowed_origin_may_call_the_enduser_routes() {
    let okta = gd::okta_stub();
    let h = gd::host(
        okta.port,
        1,
        &[
            (
                "guardian_cors_allowed_origins",
                "https://other.example, https://wallet.example",
            ),
            ("admin_token", "maintainer-secret"),
            ("allow_export", "true"),
        ],
    );
    for (path, method) in [
        ("/guardian/login", "POST"),
        ("/guardian", "POST"),
        ("/guardian/sign", "POST"),
        ("/guardian/sign-tx", "POST"),
        ("/guardian/sign-message", "POST"),
        ("/guardian/sign-typed-data", "POST"),
        ("/guardian/address", "GET"),
        ("/guardian/logout", "POST"),
        ("/guardian/export", "POST"),
    ] {
        let r = preflight(&h, path, WALLET, method);
        assert_eq!(r.status, 204, "{path}: {}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(WALLET),
            "{path}"
        );
        let methods = r.header("access-control-allow-methods");
        assert!(has_token(methods, method), "{path}: {methods:?}");
        let allowed = r.header("access-control-allow-headers");
        for header in ["authorization", "x-vault-token", "content-type"] {
            assert!(has_token(allowed, header), "{path}: {allowed:?}");
        }
        assert!(has_token(r.header("vary"), "origin"), "{path}");
        // A disallowed origin is granted nothing.
        let r = preflight(&h, path, "https://evil.example", method);
        assert!(r.header("access-control-allow-origin").is_none(), "{path}");
    }
    // The maintainer's routes are never CORS-enabled.
    for path in ["/guardian/authorize", "/guardian/revoke"] {
        let r = preflight(&h, path, WALLET, "POST");
        assert!(r.header("access-control-allow-origin").is_none(), "{path}");
        assert_ne!(r.status, 204, "{path}");
        let r = send_from(
            &h,
            PROXY,
            "POST",
            path,
            &[
                ("origin", WALLET),
                ("authorization", "Bearer maintainer-secret"),
                ("content-type", "application/json"),
            ],
            "{}",
        );
        assert!(r.header("access-control-allow-origin").is_none(), "{path}");
    }
    // An actual call from the wallet: login, then a signature.
    let from_wallet = |method: &str, path: &str, token: Option<&str>, body: &str| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("origin", WALLET), ("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        send_from(&h, VICTIM, method, path, &headers, body)
    };
    let r = from_wallet(
        "POST",
        "/guardian/login",
        None,
        &json!({"okta_username": "browser", "okta_password": "pw"}).to_string(),
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(WALLET));
    let token = gd::token_of(&r);
    let r = from_wallet(
        "POST",
        "/guardian/sign",
        Some(&token),
        &json!({"raw_data": "11".repeat(32)}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(WALLET));
    assert!(has_token(r.header("vary"), "origin"));
    assert!(has_token(
        r.header("access-control-expose-headers"),
        "retry-after"
    ));
    // The same call from a disallowed origin is answered (CORS is the browser's check), without
    // a grant.
    let fresh = gd::fresh(&r);
    let r = send_from(
        &h,
        VICTIM,
        "GET",
        "/guardian/address",
        &[
            ("origin", "https://evil.example"),
            ("authorization", &format!("Bearer {fresh}")),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(has_token(r.header("vary"), "origin"));
}

/// Without `guardian_cors_allowed_origins` nothing is CORS-enabled.
#[test]
fn without_configured_origins_there_is_no_cors() {
    let okta = gd::okta_stub();
    let h = gd::host(okta.port, 1, &[]);
    let r = preflight(&h, "/guardian/sign", WALLET, "POST");
    assert_eq!(r.status, 405, "{}", r.text());
    assert!(r.header("access-control-allow-origin").is_none());
    let r = login_from(&h, VICTIM, "plain", "pw", &[("origin", WALLET)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("access-control-allow-origin").is_none());
}
