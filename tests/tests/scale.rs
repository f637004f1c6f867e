//! Several hosts, one state; crashes; backend outages (issue: scale past one machine).
//!
//! These run in both passes of `cargo xtask test`: on the embedded backends two hosts share one
//! state directory (SQLite files, WAL); on PostgreSQL + Redis they share the databases the
//! harness derives from that directory. Either way the single-use and replay guarantees must hold
//! across processes, and every acknowledged write must survive `kill -9`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_e2e::guardian as gd;
use keyward_e2e::keyservice::{self as ks, Session};
use keyward_e2e::shield as sh;
use keyward_e2e::{Backend, Host, HostBuilder, Resp, guest_manifest, json, race, try_request};

/// The product host, without the /init rate limit (these tests make many sessions from one
/// address on purpose).
fn product() -> HostBuilder {
    ks::host().env("SPIN_VARIABLE_INIT_RATE_LIMIT_PER_MINUTE", "0")
}

/// Two hosts on one state directory (on the scale-out pass: on the databases derived from it),
/// started from `builder`; the directory lives as long as the first value.
fn two_hosts(builder: impl Fn() -> HostBuilder) -> (tempfile::TempDir, Host, Host) {
    let state = tempfile::tempdir().unwrap();
    let a = builder().state_dir(state.path()).start();
    let b = builder().state_dir(state.path()).start();
    (state, a, b)
}

#[test]
fn a_record_written_through_one_host_is_read_through_the_other() {
    let (_state, a, b) = two_hosts(product);
    let secret = ks::create_namespace(&a.base, "shared_ns");
    // The client initialises at b, the Real Service connects at a, the value is written at b
    // and read back at a.
    let init_token = ks::init(&b.base);
    let r = ks::connect(
        &a.base,
        "shared_ns",
        &secret,
        "u1",
        &sessionist::init_token_hash(&init_token),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let s = Session {
        token: r.json()["sessionToken"].as_str().unwrap().to_string(),
        init_token,
    };
    assert_eq!(ks::key(&b.base, &s, "PUT", b"written-at-b").status, 204);
    let r = ks::key(&a.base, &s, "GET", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"written-at-b");
}

const RACERS: usize = 64;

#[test]
fn sixty_four_racers_over_two_hosts_consume_one_init_token_once() {
    let (_state, a, b) = two_hosts(product);
    let secret = ks::create_namespace(&a.base, "race_ns");
    let hash = sessionist::init_token_hash(&ks::init(&a.base));
    let bases = [a.base.clone(), b.base.clone()];
    let results = race(RACERS, |i| {
        let r = ks::connect(
            &bases[i % 2],
            "race_ns",
            &secret,
            &format!("racer{i}"),
            &hash,
        );
        (r.status, error_code(&r))
    });
    assert_one_winner("init-token", &results, 200, 409, "INIT_TOKEN_INVALID");
}

/// docs/shield.md, "Design: encryption sessions": an encryption session is consumed by the request that uses it; 64 reads with
/// one `X-Encryption-Session`, spread over two hosts → one 200, 63 × 400 EC_INVALID.
#[test]
fn sixty_four_racers_over_two_hosts_use_one_shield_encryption_session_once() {
    let (_state, a, b) = two_hosts(sh::builder);
    let p = sh::register(&a, true);
    sh::pem_provider(&a, &p, &sh::rsa(), "rsa");
    let part = p.part.clone().expect("encryption part");
    let t = sh::tok(&sh::rsa(), "scale-racer");
    sh::ok(
        &sh::cu(
            &b,
            &p,
            &t,
            "POST",
            "/shares",
            &[],
            Some(sh::project_share("default", Some(&part), None)),
        ),
        201,
    );
    let s = sh::session(&a, &p, &part);
    let hosts = [&a, &b];
    let results = race(RACERS, |i| {
        let r = sh::cu(
            hosts[i % 2],
            &p,
            &t,
            "GET",
            "/shares",
            &[("X-Encryption-Session", &s)],
            None,
        );
        if r.status == 200 {
            assert_eq!(r.json()["secret"], "secret-default", "{}", r.text());
        } else if r.status == 400 {
            assert_eq!(
                r.json()["message"],
                "Invalid encryption session",
                "{}",
                r.text()
            );
        }
        (r.status, error_code(&r))
    });
    assert_one_winner(
        "shield encryption-session",
        &results,
        200,
        400,
        "EC_INVALID",
    );
}

/// docs/guardian.md, "Design: tokens": a token is consumed atomically by the request that presents it; 64
/// `GET /guardian/sign` with one login token, spread over two hosts → one 200 (with a fresh
/// token), 63 × 401 AUTH_INVALID.
#[test]
fn sixty_four_racers_over_two_hosts_use_one_guardian_token_once() {
    let okta = gd::okta_stub();
    let vars = [
        ("login_user_rate_limit_per_minute", "100"),
        ("login_rate_limit_per_minute", "100"),
    ];
    let (_state, a, b) = two_hosts(|| gd::builder(okta.port, 1, &vars));
    // The user is created through b, the token minted at a: both see the same store.
    assert_eq!(gd::login(&b, "scale-racer").status, 200);
    let t = gd::token_of(&gd::login(&a, "scale-racer"));
    let hosts = [&a, &b];
    let results = race(RACERS, |i| {
        let r = gd::get(hosts[i % 2], "/guardian/sign", &t);
        if r.status == 200 {
            assert!(r.json()["public_address"].is_string(), "{}", r.text());
            gd::fresh(&r);
        }
        (r.status, error_code(&r))
    });
    assert_one_winner("guardian token", &results, 200, 401, "AUTH_INVALID");
}

/// The error code of a refusal (`None` for a success or a body without one).
fn error_code(r: &Resp) -> Option<String> {
    if r.status < 400 {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|j| j["code"].as_str().map(str::to_owned))
}

/// A race must have exactly one winner (`win`), every other racer refused with `refusal` and
/// `code`; the tally goes to the test's output for the record.
#[track_caller]
fn assert_one_winner(
    race: &str,
    results: &[(u16, Option<String>)],
    win: u16,
    refusal: u16,
    code: &str,
) {
    let winners = results.iter().filter(|(s, _)| *s == win).count();
    let refused = results
        .iter()
        .filter(|(s, c)| *s == refusal && c.as_deref() == Some(code))
        .count();
    eprintln!(
        "{race} race: {} racers over 2 hosts, {winners} winner(s), {refused} refused ({refusal} {code})",
        results.len()
    );
    assert_eq!((winners, refused), (1, results.len() - 1), "{results:?}");
}

#[test]
fn a_nonce_seen_by_one_host_is_a_replay_at_the_other() {
    let (_state, a, b) = two_hosts(product);
    let secret = ks::create_namespace(&a.base, "replay_ns");
    let s = ks::session(&a.base, "replay_ns", &secret, "u1");
    let (auth, date) = ks::sign(&s.token, &s.init_token, "GET", "/key", b"");
    let first = ks::send_signed(&a.base, "GET", "/key", b"", &auth, &date);
    assert_eq!(first.status, 404, "nothing stored yet: {}", first.text());
    let replay = ks::send_signed(&b.base, "GET", "/key", b"", &auth, &date);
    assert_eq!(replay.status, 401, "{}", replay.text());
    assert_eq!(replay.error_code(), "AUTH_INVALID");
    // The refusal was the nonce, not an unknown session: b accepts a fresh signature of the same
    // request for the same session (a host that did not share the store would refuse both).
    let fresh = ks::key(&b.base, &s, "GET", b"");
    assert_eq!(fresh.status, 404, "b knows the session: {}", fresh.text());
}

type Acked = (Session, Vec<u8>);

#[test]
fn every_acknowledged_write_survives_kill_9() {
    kill_9_under_write_load("full");
}

/// `--sqlite-synchronous normal` promises survival of a process crash (not of a power loss).
/// On PostgreSQL the flag changes nothing, so the scale-out pass runs only the test above.
#[test]
fn every_acknowledged_write_survives_kill_9_with_synchronous_normal() {
    if Backend::from_env() != Backend::Embedded {
        return;
    }
    kill_9_under_write_load("normal");
}

fn kill_9_under_write_load(synchronous: &str) {
    let state = tempfile::tempdir().unwrap();
    let start = || {
        product()
            .env("KEYWARD_SQLITE_SYNCHRONOUS", synchronous)
            .state_dir(state.path())
            .start()
    };
    // (session, value) of every PUT /key that got its 204.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::new(Mutex::new(Vec::new()));
    let mut secret = None;
    let rounds = 4;
    for round in 0..rounds {
        let mut host = start();
        let base = host.base.clone();
        let secret = secret
            .get_or_insert_with(|| ks::create_namespace(&base, "durable_ns"))
            .clone();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (base, secret, stop, acked) =
                    (base.clone(), secret.clone(), stop.clone(), acked.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let user = format!("r{round}-t{t}-n{n}");
                        // Any step may fail once the host is killed: only a 204 counts.
                        let Some(session) = try_session(&base, &secret, &user) else {
                            continue;
                        };
                        let value = format!("value of {user}").into_bytes();
                        let (auth, date) =
                            ks::sign(&session.token, &session.init_token, "PUT", "/key", &value);
                        let put = try_request(
                            "PUT",
                            &format!("{base}/key"),
                            &[("authorization", &auth), ("x-date", &date)],
                            Some(&value),
                        );
                        if matches!(put, Ok(ref r) if r.status == 204) {
                            acked.lock().unwrap().push((session, value));
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        host.kill(); // SIGKILL: no shutdown path runs
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }
    let host = start();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > 20,
        "the load was too light to mean anything: {}",
        acked.len()
    );
    let mut found = 0;
    let mut lost = Vec::new();
    for (session, value) in acked.iter() {
        let r = ks::key(&host.base, session, "GET", b"");
        if r.status == 200 && &r.body == value {
            found += 1;
        } else {
            lost.push(format!("{} {}", r.status, String::from_utf8_lossy(value)));
        }
    }
    eprintln!(
        "kill -9 durability ({:?}, sqlite synchronous={synchronous}): {rounds} kills, {} writes acknowledged, {found} found afterwards",
        Backend::from_env(),
        acked.len()
    );
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes were lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(3)]
    );
}

fn try_session(base: &str, secret: &str, user: &str) -> Option<Session> {
    let init = try_request("POST", &format!("{base}/init"), &[], Some(b"")).ok()?;
    let init_token = init.json().get("initToken")?.as_str()?.to_string();
    let body = json!({"namespace": "durable_ns", "userId": user, "initTokenHash": sessionist::init_token_hash(&init_token)})
        .to_string();
    let (auth, date) = ks::sign("durable_ns", secret, "POST", "/connect", body.as_bytes());
    let r = try_request(
        "POST",
        &format!("{base}/connect"),
        &[("authorization", &auth), ("x-date", &date)],
        Some(body.as_bytes()),
    )
    .ok()?;
    let token = r.json().get("sessionToken")?.as_str()?.to_string();
    Some(Session { token, init_token })
}

/// A TCP proxy the test can take down and bring back, standing between the host and a backend.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once, like a dead server
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        open2.lock().unwrap().push(c);
                    }
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap();
    let hostport = rest.split('/').next().unwrap();
    let hostport = hostport.rsplit('@').next().unwrap();
    hostport.parse().unwrap()
}

#[test]
#[ignore = "needs PostgreSQL and Redis: runs in the scale-out pass of `cargo xtask test`"]
fn a_backend_outage_is_a_503_and_the_host_recovers_by_itself() {
    let Backend::ScaleOut { pg_url, redis_url } = Backend::from_env() else {
        panic!(
            "run with KEYWARD_TEST_BACKEND=scale-out (cargo xtask test does, when the servers are configured)"
        );
    };
    let pg = Proxy::start(addr_of(&pg_url));
    let redis = Proxy::start(addr_of(&redis_url));
    let manifest = guest_manifest(
        "outage",
        "",
        &[("/s/...", "storage"), ("/plain/...", "plain")],
        &[
            (
                "storage",
                "sqlite_databases = [\"default\"]\nkey_value_stores = [\"default\"]",
            ),
            ("plain", ""),
        ],
    );
    let pg_db = pg_url.rsplit('/').next().unwrap();
    let rc = format!(
        "[sqlite_database.default]\ntype = \"postgres\"\nurl = \"postgres://keyward@127.0.0.1:{}/{pg_db}\"\npool_size = 2\n\
         [key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}/\"\nprefix = \"outage-test:\"\n",
        pg.port, redis.port
    );
    // The backends are down before the host even starts: it must start anyway.
    let h: Host = HostBuilder::new(manifest).runtime_config(&rc).start();
    let sql = |h: &Host| {
        h.post(
            "/s/sql/default",
            json!({"sql": "SELECT 1 AS one", "params": []})
                .to_string()
                .as_bytes(),
        )
    };
    let kv = |h: &Host| h.get("/s/kv/default/k");
    let assert_unavailable = |r: keyward_e2e::Resp| {
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.error_code(), "UNAVAILABLE");
        assert!(r.header("retry-after").is_some());
    };
    let start = Instant::now();
    assert_unavailable(sql(&h));
    assert_unavailable(kv(&h));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "an outage must fail fast, not hang"
    );
    // Routes that do not touch the backend keep working.
    assert_eq!(h.get("/plain/echo").status, 200);

    pg.set_up(true);
    redis.set_up(true);
    let r = sql(&h);
    assert_eq!(r.status, 200, "recovered without a restart: {}", r.text());
    assert_eq!(r.json()["ok"]["rows"], json!([[{"integer": 1}]]));
    assert_eq!(kv(&h).status, 200);

    // Down again while connections are pooled, then back.
    pg.set_up(false);
    redis.set_up(false);
    assert_unavailable(sql(&h));
    assert_unavailable(kv(&h));
    pg.set_up(true);
    redis.set_up(true);
    let recovered = (0..20).any(|_| {
        let ok = sql(&h).status == 200 && kv(&h).status == 200;
        if !ok {
            std::thread::sleep(Duration::from_millis(250));
        }
        ok
    });
    assert!(
        recovered,
        "the host did not recover after the second outage"
    );
}
