//! guardian's signing policies (docs/guardian.md, "Design: signing policies") through the host:
//! every rule allows and refuses with its code over HTTP, a user's document beats the
//! deployment's, only the maintainer sets one, and the rolling period's limits hold exactly when
//! 64 clients race over two hosts sharing one store. Runs on both passes of `cargo xtask test`
//! (embedded SQLite, then PostgreSQL).

use keyward_e2e::guardian as gd;
use keyward_e2e::{Host, HostBuilder, Stub, Value, json};
use keyward_test_kit::scenarios::guardian::{RAW, SETTINGS, Signer, VAULT, put, tx, user_path};

fn builder(okta: u16) -> HostBuilder {
    gd::builder(okta, 1, SETTINGS)
}

fn two_hosts(okta: u16) -> (tempfile::TempDir, Host, Host) {
    let state = tempfile::tempdir().unwrap();
    let a = builder(okta).state_dir(state.path()).start();
    let b = builder(okta).state_dir(state.path()).start();
    (state, a, b)
}

/// A host of its own, with the Okta stub it logs in through (each scenario sets the
/// deployment's document).
struct PolicyHost {
    host: Host,
    _okta: Stub,
}

impl std::ops::Deref for PolicyHost {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

fn policy_host() -> PolicyHost {
    let okta = gd::okta_stub();
    PolicyHost {
        host: builder(okta.port).start(),
        _okta: okta,
    }
}

// Every rule allows and refuses with its code, and a user's document beats the deployment's:
// the test kit's scenarios, which guardian-service's tests run natively.
keyward_test_kit::guardian_policy_scenario_tests!(policy_host());

/// `n` tokens of one user, one login each.
fn tokens(h: &Host, user: &str, n: usize) -> Vec<String> {
    (0..n).map(|_| gd::token_of(&gd::login(h, user))).collect()
}

/// 64 clients, alternating between the hosts, each signing once with its own token; the
/// statuses and codes.
fn race(hosts: [&Host; 2], tokens: &[String], path: &str, body: &Value) -> Vec<(u16, String)> {
    keyward_e2e::race(tokens.len(), |i| {
        let r = gd::post(hosts[i % 2], path, Some(&tokens[i]), body);
        let code = if r.status == 200 {
            String::new()
        } else {
            r.error_code()
        };
        (r.status, code)
    })
}

#[track_caller]
fn exactly(results: &[(u16, String)], wins: usize, code: &str) {
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, c)| *s == 403 && c == code)
        .count();
    assert_eq!((ok, refused), (wins, results.len() - wins), "{results:?}");
}

#[test]
fn the_period_limits_hold_exactly_when_64_clients_race_over_two_hosts() {
    let okta = gd::okta_stub();
    let (_state, a, b) = two_hosts(okta.port);
    put(
        &a,
        "/guardian/policy",
        &json!({"period": {"seconds": 3600, "max_count": 10}}),
    );
    // The value limit: 10 transactions of 1 wei fit in 10 wei, the count is no limit.
    put(
        &b,
        &user_path("racer2"),
        &json!({"period": {"seconds": 3600, "max_count": 10000, "max_value": "10"}}),
    );
    let counted = tokens(&a, "racer1", 64);
    let results = race(
        [&a, &b],
        &counted,
        "/guardian/sign",
        &json!({"raw_data": RAW}),
    );
    exactly(&results, 10, "POLICY_PERIOD_COUNT_EXCEEDED");
    let valued = tokens(&b, "racer2", 64);
    let results = race(
        [&a, &b],
        &valued,
        "/guardian/sign-tx",
        &tx(1, Some(VAULT), "1"),
    );
    exactly(&results, 10, "POLICY_PERIOD_VALUE_EXCEEDED");
    // A transaction of value 0 still fits, at either host; one more wei does not.
    let mut t = Signer::login(&a, "racer2");
    t.d = &b;
    t.allowed("/guardian/sign-tx", tx(1, Some(VAULT), "0"));
    t.d = &a;
    t.refused(
        "/guardian/sign-tx",
        tx(1, Some(VAULT), "1"),
        "POLICY_PERIOD_VALUE_EXCEEDED",
    );
}
