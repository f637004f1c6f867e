//! Outbound safety end to end (docs/OPERATIONS.md, "Outbound safety"; docs/shield.md, "Outbound
//! hosts"): a CUSTOM provider's JWKS URL on a host nobody configured works as soon as the
//! provider is added, and a JWKS URL that resolves to a loopback or link-local (metadata)
//! address is refused by the host before any connection is made.

use std::time::{Duration, Instant};

use jwt_verify::test_signer::{jwks_json, public_pem_of, sign_as};
use keyward_e2e::shield::{now_s, rsa};
use keyward_e2e::{Host, HostBuilder, Stub, TEST_MASTER_KEY, json, product_manifest, request};
use keyward_test_kit::scenarios::shield::{self as scenarios, Done as _, Keys, refused, register};

const INVALID_TOKEN: (u16, &str, &str) = (401, "A_INVALID", "Invalid token");

/// A JWKS stand-in on 127.0.0.1 serving the RS256 test key at every path; it records requests.
fn jwks_stub() -> Stub {
    Stub::start(|_| (200, "application/json", jwks_json(&[&rsa()]).into_bytes()))
}

/// `spin.toml`'s default `shield_jwks_hosts` with its `https` widened to any scheme: the
/// stand-ins speak plain HTTP; hosts and ports stay what the default allows.
fn default_jwks_hosts_any_scheme() -> String {
    let manifest: toml::Table = product_manifest().parse().expect("spin.toml is TOML");
    let default = manifest["variables"]["shield_jwks_hosts"]["default"]
        .as_str()
        .expect("a default");
    default.replace("https://", "*://")
}

/// The product with shield's JWKS hosts left to their default (but for the scheme), and
/// `allowance` as the host's only `--allow-outbound-private`, with the metrics listener on.
fn host(allowance: Option<&str>) -> Host {
    HostBuilder::new(product_manifest())
        .env("SPIN_VARIABLE_MASTER_KEY", TEST_MASTER_KEY)
        .env("SPIN_VARIABLE_RATE_LIMIT_REQUESTS", "0")
        .env(
            "SPIN_VARIABLE_SHIELD_JWKS_HOSTS",
            &default_jwks_hosts_any_scheme(),
        )
        .outbound_allowance(allowance)
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
}

fn install_keys() {
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: jwt_verify::test_signer::hs256_token,
    });
}

/// The `keyward_outbound_requests_total` lines of a scrape.
fn outbound_metrics(h: &Host) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let found = h.log_lines().iter().find_map(|l| {
            l.contains("metrics at /metrics")
                .then(|| l.split("address=").nth(1))
                .flatten()
                .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        });
        if let Some(addr) = found {
            break addr;
        }
        assert!(Instant::now() < deadline, "no metrics address in the log");
        std::thread::sleep(Duration::from_millis(20));
    };
    let r = request("GET", &format!("http://{addr}/metrics"), &[], None);
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .filter(|l| l.starts_with("keyward_outbound_requests_total{"))
        .map(str::to_owned)
        .collect()
}

// docs/shield.md, "Outbound hosts": a provider is usable the moment it is added.
#[test]
fn a_new_jwks_host_verifies_tokens_at_once() {
    install_keys();
    let stub = jwks_stub();
    // The operator allowed this one loopback destination, by name; nothing names it for shield.
    let h = host(Some(&format!("localhost:{}", stub.port)));
    let p = register(&h, false);
    let jwk = format!("http://localhost:{}/tenant-a/jwks.json", stub.port);
    p.post(
        "/project/providers",
        &json!({"providers": {"custom": {"jwk": jwk}}}),
    )
    .done(200);
    let token = rsa().sign(&json!({"sub": "alice", "exp": now_s() + 600}));
    assert_eq!(
        p.custom(&token).get("/keychain").done(200),
        json!({"shares": []})
    );
    assert!(
        stub.requests()
            .iter()
            .any(|r| r.target == "/tenant-a/jwks.json"),
        "the JWKS was fetched from the new host"
    );
}

// docs/OPERATIONS.md, "Outbound safety": loopback (by address and by a name resolving to it)
// and the metadata address are refused without a connection, counted and logged.
#[test]
fn loopback_and_metadata_jwks_urls_are_refused_without_a_connection() {
    install_keys();
    let stub = jwks_stub();
    let h = host(None);
    let token = rsa().sign(&json!({"sub": "mallory", "exp": now_s() + 600}));
    for (jwk, destination, kind) in [
        (
            format!("http://127.0.0.1:{}/jwks.json", stub.port),
            format!("127.0.0.1:{}", stub.port),
            "loopback",
        ),
        (
            format!("http://localhost:{}/jwks.json", stub.port),
            format!("localhost:{}", stub.port),
            "loopback",
        ),
        (
            "http://169.254.169.254/latest/meta-data/jwks.json".to_owned(),
            "169.254.169.254".to_owned(),
            "link-local",
        ),
        (
            "http://[::ffff:169.254.169.254]/jwks.json".to_owned(),
            "[::ffff:169.254.169.254]".to_owned(),
            "link-local",
        ),
    ] {
        let p = register(&h, false);
        p.post(
            "/project/providers",
            &json!({"providers": {"custom": {"jwk": jwk}}}),
        )
        .done(200);
        let started = Instant::now();
        refused(&p.custom(&token).get("/keychain"), INVALID_TOKEN);
        // A connection attempt to 169.254.169.254 where nothing answers would wait for the
        // 10 s outbound timeout.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{jwk}: took {:?}",
            started.elapsed()
        );
        assert!(
            h.log_lines()
                .iter()
                .any(|l| l.contains("outbound request refused")
                    && l.contains(&format!("destination={destination} "))
                    && l.contains(kind)),
            "{jwk}: no refusal in the log"
        );
    }
    assert!(
        stub.requests().is_empty(),
        "the loopback stand-in was reached"
    );
    let metrics = outbound_metrics(&h);
    for host in ["169.254.169.254", "localhost:", "127.0.0.1:"] {
        assert!(
            metrics.iter().any(|l| l.contains(&format!("host=\"{host}"))
                && l.contains("outcome=\"prohibited\"")
                && !l.ends_with(" 0")),
            "{host}: {metrics:#?}"
        );
    }
    // Nothing of a token or a path in the log lines of the refusals.
    for line in h.log_lines() {
        if line.contains("outbound request refused") {
            assert!(
                !line.contains("jwks.json") && !line.contains(&token),
                "{line}"
            );
        }
    }
}
