//! The front door (docs/OPERATIONS.md): what an anonymous client can do to a running host before
//! any credential is checked. Every test speaks over real sockets on loopback to a real host.
//!
//! Limits are set through their `KEYWARD_*` variables rather than flags, so that each test also
//! runs against a host that predates them (and fails for the reason it exists, not on an
//! unknown flag).
//!
//! Tests that need a second client address connect from 127.0.0.2: all of 127.0.0.0/8 reaches
//! the loopback interface, and the host sees it as a different peer.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keyward_e2e::{Host, HostBuilder, guest_manifest, json, memory_mib};

/// A minimal application: the conformance guest on every path.
fn manifest() -> String {
    guest_manifest(
        "front-door",
        "",
        &[("/...", "probe")],
        &[(
            "probe",
            "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]",
        )],
    )
}

fn host(f: impl FnOnce(HostBuilder) -> HostBuilder) -> Host {
    f(HostBuilder::new(manifest())).start()
}

fn addr(h: &Host) -> SocketAddr {
    h.base
        .trim_start_matches("http://")
        .parse()
        .expect("host address")
}

const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to the host, from `source` if given.
fn connect(to: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// Sends `raw` on a fresh connection and reads the response until the server closes or
/// `within` passes: (status, whole response text).
/// `GET /echo` from `source`, answered within 5 s.
fn echo(to: SocketAddr, source: Option<IpAddr>) -> (u16, String) {
    exchange(
        to,
        source,
        &get("/echo", "localhost"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("no answer to GET /echo: {e}"))
}

fn exchange(
    to: SocketAddr,
    source: Option<IpAddr>,
    raw: &[u8],
    within: Duration,
) -> Result<(u16, String), String> {
    let mut s = connect(to, source).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    // A server that refuses a request may answer before reading all of it: read what it said.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if complete(&buf) {
                    break;
                }
            }
            Err(e) if buf.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    Ok((status, text))
}

/// A response with a Content-Length whose body has fully arrived.
fn complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
        .is_some_and(|n| body.len() >= n)
}

fn get(path: &str, host_header: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n").into_bytes()
}

fn body_of(text: &str) -> serde_json::Value {
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut body = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            body.push_str(&after[..size]);
            rest = after[size..].trim_start_matches("\r\n");
        }
    } else {
        body.push_str(rest);
    }
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The test process itself opens more sockets than a default soft limit allows.
fn raise_own_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

#[test]
fn idle_connections_cannot_exhaust_the_hosts_file_descriptors() {
    raise_own_open_files_limit();
    let h = host(|b| b.wrapped_in(&["prlimit", "--nofile=1024:1024", "--"]));
    let to = addr(&h);
    // 1,100 connections that never send a byte, from one address.
    let idle: Vec<TcpStream> = (0..1100).filter_map(|_| connect(to, None).ok()).collect();
    let idle_count = idle.len();
    assert!(idle_count > 1024, "only {idle_count} connections opened");
    std::thread::sleep(Duration::from_millis(500));

    // Another client is still served, promptly.
    let started = Instant::now();
    let (status, text) = echo(to, Some(OTHER_PEER));
    assert_eq!(status, 200, "{text}");
    let served_in = started.elapsed();
    assert!(served_in < Duration::from_secs(2));

    // The flood's surplus was answered and closed, not left to exhaust descriptors.
    let log = h.log_lines().join("\n");
    assert!(
        !log.contains("Too many open files"),
        "the host ran out of descriptors:\n{log}"
    );
    assert!(
        log.contains("connection cap is reached"),
        "no refusal logged:\n{log}"
    );
    drop(idle);
    keyward_e2e::record_fault(
        "idle-connections",
        "idle connections from one address, past a 1,024 open-files limit",
        idle_count,
        "surplus refused and closed at the connection cap",
        &format!(
            "another client served in {:.2} s; no descriptor exhaustion",
            served_in.as_secs_f64()
        ),
    );
}

#[test]
fn slowloris_connections_are_closed_within_the_header_timeout() {
    let h = host(|b| b.env("KEYWARD_HEADER_TIMEOUT", "2"));
    let to = addr(&h);
    let started = Instant::now();
    let closed_after: Vec<Option<Duration>> = (0..300)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(to, None).ok()?;
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                s.write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n")
                    .ok()?;
                let opened = Instant::now();
                let mut buf = [0u8; 1024];
                while opened.elapsed() < Duration::from_secs(10) {
                    // One more header line now and then, never the blank line that ends the head.
                    if s.write_all(b"X-Slow: yes\r\n").is_err() {
                        return Some(opened.elapsed());
                    }
                    match s.read(&mut buf) {
                        Ok(_) => return Some(opened.elapsed()),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return Some(opened.elapsed()),
                    }
                }
                None
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let open = closed_after.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 300 slowloris connections were still open after 10 s"
    );
    let slowest = closed_after
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_default();
    assert!(
        slowest < Duration::from_millis(3500),
        "a connection was closed only after {slowest:?} (header timeout 2 s)"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // And the host still serves.
    assert_eq!(h.get("/echo").status, 200);
    keyward_e2e::record_fault(
        "slowloris",
        "slowloris: connections sending a header line every 0.5 s, never ending the head",
        300,
        "none served",
        &format!(
            "all closed, the slowest after {:.1} s (header timeout 2 s); host served",
            slowest.as_secs_f64()
        ),
    );
}

#[test]
fn slow_bodies_hold_no_instance() {
    let h = host(|b| b.env("KEYWARD_BODY_TIMEOUT", "4"));
    let to = addr(&h);
    // 270 requests that announce 1,000 bytes of body and send one: more than every instance slot.
    let slow: Vec<TcpStream> = (0..270)
        .filter_map(|_| {
            let mut s = connect(to, None).ok()?;
            s.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nx")
                .ok()?;
            Some(s)
        })
        .collect();
    assert_eq!(slow.len(), 270);
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let (status, text) = echo(to, None);
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    assert!(took < Duration::from_secs(1), "answered after {took:?}");

    // The slow senders are told, once the body timeout passes.
    let mut first = slow.into_iter().next().expect("a slow connection");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut text = String::new();
    let _ = first.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert_eq!(body_of(&text)["code"], "REQUEST_TIMEOUT");
}

#[test]
fn bodies_over_the_limit_are_refused_before_instantiation() {
    let h = host(|b| b.env("KEYWARD_MAX_BODY_BYTES", "1000"));
    let r = h.post("/echo", &[b'x'; 1001]);
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    // Chunked, so no Content-Length to judge up front: still refused while reading.
    let to = addr(&h);
    let mut raw =
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend_from_slice(format!("{:x}\r\n", 1500).as_bytes());
    raw.extend_from_slice(&[b'y'; 1500]);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let (status, text) = exchange(to, None, &raw, Duration::from_secs(5)).expect("answer");
    assert_eq!(status, 413, "{text}");
    // Within the limit, the guest gets the whole body.
    let (status, text) = exchange(
        to,
        None,
        b"GET /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
            .iter()
            .chain([b'z'; 1000].iter())
            .copied()
            .collect::<Vec<u8>>()
            .as_slice(),
        Duration::from_secs(5),
    )
    .expect("answer");
    assert_eq!(status, 200, "{text}");
    assert_eq!(body_of(&text)["body_len"], 1000);
}

/// Oversized request heads are answered by the host with a JSON error before routing: the
/// guest (which would sleep for 3 s) never runs, and the host keeps serving.
#[test]
fn oversized_uris_and_headers_are_refused_before_the_guest_runs() {
    let h = host(|b| b);
    let to = addr(&h);
    let slow = "/sleep?ms=3000";
    let refused = |raw: String, status: u16, code: &str| {
        let start = Instant::now();
        let (got, text) = exchange(to, None, raw.as_bytes(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("no answer: {e}"));
        assert_eq!(got, status, "{}", text.get(..300).unwrap_or(&text));
        assert_eq!(body_of(&text)["code"], code, "{text}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "answered only after the guest ran"
        );
    };
    let request = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
    };
    // The target: 8 KiB is served, one byte more is 414.
    let padded = |len: usize| format!("{slow}&pad={}", "p".repeat(len - slow.len() - 5));
    let (status, _) = exchange(
        to,
        None,
        request(&padded(8192).replace("3000", "0001"), "").as_bytes(),
        Duration::from_secs(10),
    )
    .expect("answer");
    assert_eq!(status, 200);
    refused(request(&padded(8193), ""), 414, "URI_TOO_LONG");
    // More than 100 header fields, or more than 32 KiB of them: 431.
    let many: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    refused(request(slow, &many), 431, "REQUEST_HEADERS_TOO_LARGE");
    let big = format!("X-Big: {}\r\n", "b".repeat(40 * 1024));
    refused(request(slow, &big), 431, "REQUEST_HEADERS_TOO_LARGE");
    // Far beyond: hyper's own buffer limit answers (a bare status line), still before any guest.
    let huge = format!("X-Huge: {}\r\n", "h".repeat(512 * 1024));
    let (status, _) = exchange(
        to,
        None,
        request(slow, &huge).as_bytes(),
        Duration::from_secs(10),
    )
    .expect("answer");
    assert_eq!(status, 431);
    assert_eq!(h.get("/echo").status, 200);
    keyward_e2e::record_fault(
        "oversized-heads",
        "oversized heads: an 8 KiB + 1 target, 101 header fields, 40 KiB and 512 KiB of headers",
        4,
        "`414 URI_TOO_LONG`, 2× `431 REQUEST_HEADERS_TOO_LARGE` (JSON), one bare `431`",
        "refused before routing, the guest never ran; host served",
    );
}

#[test]
fn the_host_header_cannot_change_the_path_a_guest_sees() {
    let h = host(|b| b);
    let to = addr(&h);
    for bad in ["x/register?", "x/echo?", "x?y", "x#y", "user@x", "a:b:c"] {
        let (status, text) =
            exchange(to, None, &get("/elsewhere", bad), Duration::from_secs(5)).expect("answer");
        assert_eq!(status, 400, "Host: {bad} → {text}");
        assert_eq!(body_of(&text)["code"], "BAD_REQUEST", "{text}");
    }
    // A valid Host becomes the authority; the path is exactly the routed target.
    for (host_header, target) in [
        ("example.com:8080", "/echo?q=1"),
        ("localhost", "/echo"),
        ("[::1]:3000", "/echo"),
    ] {
        let (status, text) =
            exchange(to, None, &get(target, host_header), Duration::from_secs(5)).expect("answer");
        assert_eq!(status, 200, "{text}");
        let seen = body_of(&text);
        assert_eq!(
            seen["uri"],
            json!(format!("http://{host_header}{target}")),
            "{seen}"
        );
        assert_eq!(seen["headers"]["spin-path-info"], json!("/echo"), "{seen}");
    }
}

#[test]
fn one_peer_cannot_hold_every_instance() {
    let h = host(|b| {
        b.arg("--max-instances")
            .arg("8")
            .arg("--request-timeout")
            .arg("3")
            .env("KEYWARD_MAX_INSTANCES_PER_PEER", "2")
    });
    let to = addr(&h);
    // Two requests that run until the deadline hold this peer's share.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                exchange(
                    to,
                    None,
                    &get("/busy", "localhost"),
                    Duration::from_secs(10),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, text) = echo(to, None);
    assert_eq!(status, 429, "{text}");
    assert_eq!(body_of(&text)["code"], "TOO_MANY_REQUESTS");
    let (status, text) = echo(to, Some(OTHER_PEER));
    assert_eq!(status, 200, "another peer is served: {text}");
    for b in busy {
        let (status, _) = b.join().expect("thread").expect("answer");
        assert_eq!(status, 504);
    }
}

#[test]
fn the_host_wide_memory_budget_is_enforced() {
    // One request may use 128 MiB, but all instances together only 32.
    let h = host(|b| b.env("KEYWARD_MEMORY_BUDGET", "32"));
    let r = h.get("/alloc?mib=48");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.error_code(), "UNAVAILABLE");
    assert_eq!(r.header("retry-after"), Some("1"));
    // What fits is served, and the budget was given back.
    assert_eq!(h.get("/alloc?mib=8").status, 200);
    assert_eq!(h.get("/alloc?mib=8").status, 200);
    // The instance's own cap is still a 500 (the guest's request is too big, not the host busy).
    let h = host(|b| b.arg("--memory-limit").arg("32"));
    assert_eq!(h.get("/alloc?mib=48").status, 500);
}

/// The bound docs/OPERATIONS.md states for this burst: peak RSS grows by less than this.
const BURST_GROWTH_BOUND_MIB: u64 = 256;

#[test]
fn a_burst_of_large_shield_bodies_does_not_exhaust_memory() {
    let h = keyward_e2e::shield::builder().start();
    let pid = h.child.id();
    assert_eq!(h.get("/healthz").status, 200);
    let before = memory_mib(pid, "VmRSS:");
    let to = addr(&h);
    // Just under 1 MiB of body: what an unbounded host would hand to the guest.
    let name = "n".repeat(1_000_000);
    let body = serde_json::to_vec(&json!({ "name": name })).expect("json");
    let barrier = Arc::new(Barrier::new(48));
    let answers: Vec<u16> = (0..48)
        .map(|_| {
            let body = body.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut raw = format!(
                    "POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                raw.extend_from_slice(&body);
                barrier.wait();
                exchange(to, None, &raw, Duration::from_secs(30)).map(|(s, _)| s)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread").unwrap_or(0))
        .collect();
    let peak = memory_mib(pid, "VmHWM:");
    eprintln!("answers {answers:?}; resident before {before} MiB, peak {peak} MiB");
    // Refused with a 4xx, or cut off while still sending the refused body: never stored, never
    // a server error.
    assert!(
        answers.iter().all(|s| *s == 0 || (400..500).contains(s)),
        "every oversized registration is refused: {answers:?}"
    );
    assert!(
        peak < before + BURST_GROWTH_BOUND_MIB,
        "peak RSS {peak} MiB, {before} MiB before the burst"
    );
    assert_eq!(h.get("/healthz").status, 200);
}

#[test]
fn an_oversized_request_id_never_breaks_a_response() {
    let h = keyward_e2e::shield::builder().start();
    // Beyond the host's request-head limit: a clean 431, not a broken response.
    let huge = "r".repeat(128 * 1024);
    let raw = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: {huge}\r\nConnection: close\r\n\r\n"
    );
    let (status, text) =
        exchange(addr(&h), None, raw.as_bytes(), Duration::from_secs(5)).expect("a response");
    assert!(status < 500, "{text}");
    // Within the head limit but far beyond any real id: replaced, never echoed.
    let long = "r".repeat(8 * 1024);
    let r = h.req("GET", "/healthz", &[("X-Request-ID", &long)], None);
    assert_eq!(r.status, 200, "{}", r.text());
    let echoed = r.header("x-request-id").expect("a request id");
    assert!(
        echoed.len() <= 128 && echoed != long,
        "echoed an id of {} bytes",
        echoed.len()
    );
    // A well-formed id is still echoed as sent.
    let r = h.req("GET", "/healthz", &[("X-Request-ID", "req-42")], None);
    assert_eq!(r.header("x-request-id"), Some("req-42"));
}

#[test]
fn a_cache_directory_others_can_write_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = HostBuilder::new(manifest())
        .arg("--cache-dir")
        .arg(cache.to_str().expect("utf-8 path"))
        .start_refused("with a cache directory others can write");
    assert!(
        err.contains("compiled-component cache directory") && err.contains("mode 777"),
        "{err}"
    );
    // A directory the host creates itself is private.
    let fresh = dir.path().join("fresh-cache");
    let _h = HostBuilder::new(manifest())
        .arg("--cache-dir")
        .arg(fresh.to_str().expect("utf-8 path"))
        .env(
            "KEYWARD_CACHE_KEY_FILE",
            dir.path().join("fresh.key").to_str().expect("utf-8 path"),
        )
        .start();
    let mode = std::fs::metadata(&fresh)
        .expect("created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_tampered_cache_entry_is_never_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let key = dir.path().join("cache.key");
    let start = || {
        HostBuilder::new(manifest())
            .arg("--cache-dir")
            .arg(cache.to_str().expect("utf-8 path"))
            .env("KEYWARD_CACHE_KEY_FILE", key.to_str().expect("utf-8 path"))
            .start()
    };
    drop(start());
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    // Flip one byte of the compiled code: the host must notice and recompile, not run it.
    let mut bytes = std::fs::read(&entries[0]).expect("entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entries[0], &bytes).expect("tamper");
    let h = start();
    assert_eq!(h.get("/echo").status, 200);
    let log = h.log_lines().join("\n");
    assert!(log.contains("failed its integrity check"), "{log}");
    assert_ne!(std::fs::read(&entries[0]).expect("rewritten"), bytes);
}
