//! The conformance checklist items reachable natively (docs/keyservice.md, "Conformance checklist";
//! real SQLite, fake clock).

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use common::*;
use guest_kit::Request;
use keyservice_service::{ADMIN, CONNECT, INIT, KEY};

#[test]
fn replay_and_identical_401_bodies() {
    // checklist 8, 9, 22.
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let a = h.session("ns", &secret, "a");
    let b = h.session("ns", &secret, "b");
    let date = sessionist::format_http_date(h.now_secs()).expect("date");
    let nonce = [0x42u8; 64];
    let req_for = |s: &Session, secret: &str| {
        let auth = sessionist::sign(&s.session_token, secret, "GET", "/key", b"", &date, &nonce)
            .expect("sign");
        Request::new("GET", "/key")
            .with_header("Authorization", auth)
            .with_header("X-Date", &date)
    };
    assert_eq!(h.call(KEY, req_for(&a, &a.init_token)).status, 404);
    // Each call opens a new connection: the replay cache survives restarts.
    let replay = h.call(KEY, req_for(&a, &a.init_token));
    // The same nonce under another keyid is fine.
    assert_eq!(h.call(KEY, req_for(&b, &b.init_token)).status, 404);

    // Wrong secret (the hash instead of the init token).
    let bad_hash = h.call(
        KEY,
        req_for(&b, &sessionist::init_token_hash(&b.init_token)),
    );
    let unknown = h.call(
        KEY,
        req_for(
            &Session {
                namespace: "ns".into(),
                user_id: "x".into(),
                init_token: "nope".into(),
                session_token: "unknown-session".into(),
            },
            "nope",
        ),
    );
    // Expired session.
    h.set_var("session_ttl_seconds", "60");
    let short = h.session("ns", &secret, "c");
    h.advance_secs(61);
    let expired = h.key(&short, "GET", b"");
    for r in [&replay, &bad_hash, &unknown, &expired] {
        r.assert_error(401, "AUTH_INVALID");
        assert_eq!(r.body, replay.body, "401 bodies are byte-identical");
        assert_eq!(r.header("www-authenticate"), Some("ss1"));
    }
}

fn hex_sha512(s: &str) -> String {
    sessionist::init_token_digest(s)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn connect_init_token_lifecycle() {
    // checklist 12.
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    let never = sessionist::init_token_hash("never issued");
    h.connect("ns", &secret, "u", &never)
        .assert_error(409, "INIT_TOKEN_INVALID");

    let t = h.init();
    h.advance_secs(601);
    h.connect("ns", &secret, "u", &sessionist::init_token_hash(&t))
        .assert_error(409, "INIT_TOKEN_INVALID");

    let t = h.init();
    h.advance_secs(599);
    assert_eq!(
        h.connect("ns", &secret, "u", &sessionist::init_token_hash(&t))
            .status,
        200
    );
}

#[test]
fn allow_lists() {
    // checklist 15, 16.
    let h = Harness::new();
    let secret = h.create_namespace("ns", &["203.0.113.0/24", "2001:db8::/32"]);
    let open = h.create_namespace("open", &[]);
    let attempt = |ns: &str, secret: &str, addr_header: Option<(&str, &str)>| {
        let t = h.init();
        let body = serde_json::json!({ "namespace": ns, "userId": "u",
            "initTokenHash": sessionist::init_token_hash(&t) });
        let body = body.to_string();
        let mut req =
            ks::signed_request(&h.driver, ns, secret, "POST", "/connect", body.as_bytes());
        if let Some((name, value)) = addr_header {
            req = req.with_header(name, value);
        }
        h.call(CONNECT, req)
    };
    let peer = "spin-client-addr";
    assert_eq!(
        attempt("ns", &secret, Some((peer, "203.0.113.77:5"))).status,
        200
    );
    assert_eq!(
        attempt("ns", &secret, Some((peer, "[::ffff:203.0.113.77]:5"))).status,
        200
    );
    assert_eq!(
        attempt("ns", &secret, Some((peer, "[2001:db8::9]:5"))).status,
        200
    );
    attempt("ns", &secret, Some((peer, "198.51.100.1:5"))).assert_error(403, "IP_NOT_ALLOWED");
    attempt("ns", &secret, None).assert_error(403, "IP_NOT_ALLOWED");
    assert_eq!(
        attempt("open", &open, Some((peer, "198.51.100.1:5"))).status,
        200
    );
    assert_eq!(attempt("open", &open, None).status, 200);

    h.set_var("client_addr_header", "x-forwarded-for");
    assert_eq!(
        attempt(
            "ns",
            &secret,
            Some(("X-Forwarded-For", "198.51.100.1, 203.0.113.9"))
        )
        .status,
        200
    );
    attempt(
        "ns",
        &secret,
        Some(("X-Forwarded-For", "203.0.113.9, 198.51.100.1")),
    )
    .assert_error(403, "IP_NOT_ALLOWED");
    // The platform address no longer counts; a missing header is unknown.
    attempt("ns", &secret, Some((peer, "203.0.113.77:5"))).assert_error(403, "IP_NOT_ALLOWED");
    attempt("ns", &secret, Some(("X-Forwarded-For", "garbage")))
        .assert_error(403, "IP_NOT_ALLOWED");
}

#[test]
fn key_values() {
    // checklist 18–21.
    let h = Harness::new();
    h.set_var("max_key_bytes", "1000");
    let secret = h.create_namespace("ns", &[]);
    let other_ns_secret = h.create_namespace("other", &[]);
    let s1 = h.session("ns", &secret, "alice");
    let s2 = h.session("ns", &secret, "alice");
    let bob = h.session("ns", &secret, "bob");
    let alice_other = h.session("other", &other_ns_secret, "alice");

    let raw = vec![0x00, 0xff, 0xfe, b'\n', 0x80];
    assert_eq!(h.key(&s1, "PUT", &raw).status, 204);
    let r = h.key(&s2, "GET", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, raw);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    h.key(&bob, "GET", b"").assert_error(404, "KEY_NOT_FOUND");
    h.key(&alice_other, "GET", b"")
        .assert_error(404, "KEY_NOT_FOUND");

    let put = h
        .key_req(&s2, "PUT", b"v2")
        .with_header("Content-Type", "text/plain; charset=utf-8");
    assert_eq!(h.call(KEY, put).status, 204);
    let r = h.key(&s1, "GET", b"");
    assert_eq!(r.body, b"v2");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    assert_eq!(h.key(&s1, "PUT", &vec![1u8; 1000]).status, 204);
    h.key(&s1, "PUT", &vec![1u8; 1001])
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    h.key(&s1, "PUT", b"").assert_error(400, "BAD_REQUEST");
    for bad_ct in ["", &"a".repeat(256), "text/plain\u{1}"] {
        let req = h
            .key_req(&s1, "PUT", b"x")
            .with_header("Content-Type", bad_ct);
        h.call(KEY, req).assert_error(400, "BAD_REQUEST");
    }
    let req = h
        .key_req(&s1, "PUT", b"x")
        .with_header("Content-Type", [0xc3u8, 0xa9]);
    h.call(KEY, req).assert_error(400, "BAD_REQUEST");

    assert_eq!(h.key(&s1, "DELETE", b"").status, 204);
    h.key(&s2, "GET", b"").assert_error(404, "KEY_NOT_FOUND");
    assert_eq!(h.key(&s2, "DELETE", b"").status, 204);
}

#[test]
fn size_limit_comes_before_auth() {
    // The rest of the limits run on both drivers (the kit's routing_and_body_limits); a
    // declared length without the body cannot be sent over HTTP.
    let h = Harness::new();
    let req = Request::new("PUT", "/key").with_header("Content-Length", "65537");
    h.call(KEY, req).assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[test]
fn sessions_expire_and_idle() {
    // checklist 23.
    let h = Harness::new();
    let secret = h.create_namespace("ns", &[]);
    h.set_var("session_ttl_seconds", "1000");
    let s = h.session("ns", &secret, "u");
    h.advance_secs(999);
    assert_eq!(h.key(&s, "GET", b"").status, 404);
    h.advance_secs(1);
    h.key(&s, "GET", b"").assert_error(401, "AUTH_INVALID");

    h.set_var("session_idle_seconds", "100");
    let active = h.session("ns", &secret, "u");
    let idle = h.session("ns", &secret, "u");
    for _ in 0..5 {
        h.advance_secs(90);
        assert_eq!(h.key(&active, "GET", b"").status, 404);
    }
    h.key(&idle, "GET", b"").assert_error(401, "AUTH_INVALID");
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn envelope_vector() {
    // The envelope vector (docs/keyservice.md, "Design: test vectors").
    use base64::Engine as _;
    let master = envelope::MasterKey::parse(MASTER_KEY).expect("key");
    let sealer = envelope::Sealer::new(&master, b"keyward/keyservice/value/v1").expect("s");
    let env = "AT2+5KVjzMqDdgXPNLXZOUsfj5uIk+kltgItCECqZabNzww+QbDN1E5NrgJMcLMtXzeA9H1V2nBNGBDnvDRudxCcLAgSaNZnKUGkcD5F4/ZQdtCrvzrZaTMjnBMGIz+Jejw+pZFXxeGMdpCA";
    let plain = sealer
        .open(env, b"keyservice|my_cool_website|347")
        .expect("opens");
    assert_eq!(
        plain,
        br#"{"kty":"oct","alg":"A256GCM","k":"_86LpU8FeJ9ahn-47_AuRnKuiGM2HsyzalBj4KOlTs8"}"#
    );
    assert!(sealer.open(env, b"keyservice|my_cool_website|348").is_err());
    let _ = base64::engine::general_purpose::STANDARD
        .decode(env)
        .expect("b64");
}

#[test]
fn operator_api_without_a_token() {
    // checklist 26 with `admin_token` unset, then empty (the rest of the operator API runs on both
    // drivers: the kit's operator_api).
    let h = Harness::new();
    h.unset_var("admin_token");
    ks::admin_disabled(&h.driver);
    // Refused before routing inside the group.
    h.call(ADMIN, Request::new("PATCH", "/admin/nothing"))
        .assert_error(403, "ADMIN_DISABLED");
    h.set_var("admin_token", "");
    ks::admin_disabled(&h.driver);
}

#[test]
fn rotation_is_dated_when_it_happens() {
    // checklist 28: `secret_rotated_at` is the rotation's time, not the creation's (the clock
    // moves between them; the rest of rotation runs on both drivers).
    let h = Harness::new();
    h.create_namespace("ns", &[]);
    h.advance_secs(10);
    let r = h.admin("POST", "/admin/namespaces/ns/rotate-secret", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let list = h.admin("GET", "/admin/namespaces", "").json();
    let entry = &list["namespaces"][0];
    assert_eq!(entry["created_at"], "2026-12-01T10:00:00Z");
    assert_eq!(entry["secret_rotated_at"], "2026-12-01T10:00:10Z");
}

#[test]
fn init_rate_limit() {
    // checklist 30.
    let h = Harness::new();
    h.set_var("init_rate_limit_per_minute", "3");
    h.now_ms.set(T0_MS + 15_000);
    let from = |addr: &str| {
        h.call(
            INIT,
            Request::new("POST", "/init").with_header("spin-client-addr", addr),
        )
    };
    for _ in 0..3 {
        assert_eq!(from("192.0.2.1:1000").status, 200);
    }
    let r = from("192.0.2.1:1001");
    r.assert_error(429, "RATE_LIMITED");
    assert_eq!(r.header("retry-after"), Some("45"));
    assert_eq!(from("192.0.2.2:1000").status, 200);
    h.advance_secs(45);
    assert_eq!(from("192.0.2.1:1000").status, 200);
}

#[test]
fn stale_init_rate_entries_of_every_address_are_removed() {
    // What anonymous clients leave behind does not stay forever (docs/keyservice.md, "Limits").
    let h = Harness::new();
    h.set_var("init_rate_limit_per_minute", "3");
    let from = |addr: &str| {
        h.call(
            INIT,
            Request::new("POST", "/init").with_header("spin-client-addr", addr),
        )
    };
    let rate_keys = || h.kv_keys("keyservice:init-rate:");
    for i in 1..=5 {
        assert_eq!(from(&format!("192.0.2.{i}:1000")).status, 200);
    }
    assert_eq!(from("[2001:db8::1]:1000").status, 200);
    assert_eq!(rate_keys().len(), 6);
    // Two minutes on, one new address: every other address's counter is gone.
    h.advance_secs(120);
    assert_eq!(from("198.51.100.7:1000").status, 200);
    let keys = rate_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // The limit itself still holds within a minute.
    for _ in 0..2 {
        assert_eq!(from("198.51.100.7:1000").status, 200);
    }
    from("198.51.100.7:1001").assert_error(429, "RATE_LIMITED");
}

#[test]
fn routing_errors() {
    // checklist 31 without CORS: the exact `Allow` lists (404s and the rest run on both drivers,
    // the kit's routing_and_body_limits, where CORS is configured).
    let h = Harness::new();
    let r = h.call(KEY, Request::new("PATCH", "/key"));
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE"));
    let r = h.call(INIT, Request::new("GET", "/init"));
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("POST"));
    let r = h.call(CONNECT, Request::new("GET", "/connect?x"));
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("POST"));
    // A bad Content-Length (a client library would not send one over HTTP).
    h.call(
        INIT,
        Request::new("POST", "/init").with_header("Content-Length", "abc"),
    )
    .assert_error(400, "BAD_REQUEST");
}

#[test]
fn not_configured() {
    // checklist 32.
    for master in [
        None,
        Some(""),
        Some("dG9vIHNob3J0"),
        Some("not base64 at all!!"),
    ] {
        let h = Harness::new();
        let secret = h.create_namespace("ns", &[]);
        let s = h.session("ns", &secret, "u");
        match master {
            None => h.unset_var("master_key"),
            Some(m) => h.set_var("master_key", m),
        }
        h.call(INIT, Request::new("POST", "/init"))
            .assert_error(503, "NOT_CONFIGURED");
        h.connect("ns", &secret, "u", &sessionist::init_token_hash("x"))
            .assert_error(503, "NOT_CONFIGURED");
        h.key(&s, "PUT", b"plaintext-value")
            .assert_error(503, "NOT_CONFIGURED");
        h.admin("POST", "/admin/namespaces", r#"{"namespace":"n2"}"#)
            .assert_error(503, "NOT_CONFIGURED");
        h.admin("POST", "/admin/namespaces/ns/rotate-secret", "")
            .assert_error(503, "NOT_CONFIGURED");
        // Nothing was stored.
        let rows = h.sql("SELECT COUNT(*) FROM ks_key", &[]);
        assert_eq!(rows.first().and_then(|r| r.integer(0)), Some(0));
        let rows = h.sql("SELECT COUNT(*) FROM ks_namespace", &[]);
        assert_eq!(rows.first().and_then(|r| r.integer(0)), Some(1));
        // Even operator routes that touch no secret material are refused: without master_key
        // no audit record can be made, and an unaudited request is not carried out.
        h.admin("GET", "/admin/namespaces", "")
            .assert_error(503, "AUDIT_UNAVAILABLE");
    }
    // Other invalid settings are deployment errors too.
    let h = Harness::new();
    h.set_var("init_token_ttl_seconds", "soon");
    h.call(INIT, Request::new("POST", "/init"))
        .assert_error(503, "NOT_CONFIGURED");
}

#[test]
fn cors_unset_and_wildcard() {
    // checklist 34 for the settings the kit's cors scenario does not run with: no origins (no
    // preflight at all), and `*` (any origin is answered as itself).
    let h = Harness::new();
    h.call(KEY, Request::new("OPTIONS", "/key"))
        .assert_error(405, "METHOD_NOT_ALLOWED");
    h.set_var("cors_allowed_origins", "*");
    let r = h.call(
        KEY,
        Request::new("GET", "/key").with_header("Origin", "https://any.example"),
    );
    r.assert_error(401, "AUTH_INVALID");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://any.example")
    );
}

#[test]
fn worked_example_with_vector_headers() {
    // The worked flow (docs/keyservice.md, "Design: test vectors") with the exact headers of `vectors/sessionist.json` (flow-*): the
    // server-generated tokens are seeded so the published hashes apply.
    const NS_SECRET: &str = "iimfVTnXnY2yndG_q2y-vI6rWUPR5CK5eIhPy1KpVIw";
    const INIT_TOKEN: &str = "DfSQ-JjJyAm8vzKJbu9fVUEkxzq1pVDQksfMK_yFAZ8";
    const SESSION: &str = "JKrbJ83N_ehG88Huf1MlQOxNoYOboI7IcXzkm_GWbnk";
    const HASH: &str =
        "5yhET74MfmM+nUseX1KZtPrN2CrwJ2rckV/430AeX83N2Q0ghZ5MHcO9phlbl4n3EbNW1rd3ZxvJ97iSGLhmzA==";
    const CONNECT_AUTH: &str = "ss1 keyid=my_cool_website, hash=286fee2ec599233adf13edf99106e78352429645b9ed2cf3b65252d8785de171f7fa1e4d8d50cb789cac0396af9c75450ce3a15fb146a45636778a01abd92a14, nonce=cb27796c85bc21959c61139fa8614714bebcd3af13ed7a38a6ed59473894df5e84708d79df6b066b1a66eb4fd434dce3330c6eae3613aa94b110d0871fce1b33";
    const PUT_AUTH: &str = "ss1 keyid=JKrbJ83N_ehG88Huf1MlQOxNoYOboI7IcXzkm_GWbnk, hash=af8ab1133a3f6e3868dc3254b3e913c5a3b702a0594465a7c20b0102475483185bfc04238aa6fd2b543aa969570fd3ca915e316cbf8d526fadbde764256cab51, nonce=c25f6f72bc7213e035dfa6be98e17e431ea68eab9c28e2f6cc6a887f27d253644f1991102e5f86a16ba4054d1ef6307fe93aad2b862528ac712ddbfed2c26f30";
    const GET_AUTH: &str = "ss1 keyid=JKrbJ83N_ehG88Huf1MlQOxNoYOboI7IcXzkm_GWbnk, hash=c568337681375b6659e4d06e565c226d86c6d5be23c27a19ee31c79eef5de6fd1598e5a48e5d799c832d4206eda7f9138f33ee92f804b10f3aacc1270cbdbd58, nonce=b792cea09072fd1073efd1277747abb6e076f5838134f33d93cb5c8a1e7c9c6a8645b20b2701d8f50a87ec913991a3714dd1f0424a1cf954c666a82e40ab71a6";
    const DELETE_AUTH: &str = "ss1 keyid=JKrbJ83N_ehG88Huf1MlQOxNoYOboI7IcXzkm_GWbnk, hash=d9393d3e7bd66a43f8ee71048cdcd28cc77c4340a4e57afd3e2852ab46f2f9ff00f3ba61354b40f28b96318cbfb8fd23ce817a01247bb04511380d5069227bd8, nonce=d988b8f10d7503d847053cf4ff89941aa37e13fcd3449a55c8abadf9ed184107f311c445bf0b3341d66b7b29b599c9db0a878faca47215ca7ff8be37dce1d397";
    let jwk = br#"{"kty":"oct","alg":"A256GCM","k":"_86LpU8FeJ9ahn-47_AuRnKuiGM2HsyzalBj4KOlTs8"}"#;

    let h = Harness::new();
    assert_eq!(sessionist::init_token_hash(INIT_TOKEN), HASH);
    h.create_namespace("schema-seed", &[]);
    let master = envelope::MasterKey::parse(MASTER_KEY).expect("key");
    let seal = |info: &[u8], plain: &str, aad: String| {
        envelope::Sealer::new(&master, info)
            .expect("sealer")
            .seal(plain.as_bytes(), aad.as_bytes())
            .expect("seal")
    };
    h.sql(
        "INSERT INTO ks_namespace (namespace, secret_ct, allowed_cidrs, created_at) VALUES (?, ?, ?, ?)",
        &[
            "my_cool_website".into(),
            seal(
                b"keyward/keyservice/namespace-secret/v1",
                NS_SECRET,
                "keyservice|namespace|my_cool_website".into(),
            )
            .into(),
            r#"["203.0.113.0/24"]"#.into(),
            T0_MS.into(),
        ],
    );
    let token_hash = hex_sha512(INIT_TOKEN);
    h.sql(
        "INSERT INTO ks_init_token (token_hash, token_ct, expires_at) VALUES (?, ?, ?)",
        &[
            token_hash.clone().into(),
            seal(
                b"keyward/keyservice/init-token/v1",
                INIT_TOKEN,
                format!("keyservice|init|{token_hash}"),
            )
            .into(),
            (T0_MS + 600_000).into(),
        ],
    );

    let connect_body =
        format!(r#"{{"namespace":"my_cool_website","userId":"347","initTokenHash":"{HASH}"}}"#);
    let req = Request::new("POST", "/connect")
        .with_header("Authorization", CONNECT_AUTH)
        .with_header("X-Date", "Tue, 01 Dec 2026 10:00:00 GMT")
        .with_header("spin-client-addr", "203.0.113.10:51000")
        .with_body(connect_body.clone().into_bytes());
    let r = h.call(CONNECT, req);
    assert_eq!(r.status, 200, "{}", r.message());

    // Bind the published session token to the consumed init token.
    let digest = {
        use sha2::Digest;
        hex_lower(&sha2::Sha256::digest(SESSION.as_bytes()))
    };
    h.sql(
        "INSERT INTO ks_session (token_digest, namespace, user_id, init_token_ct, created_at, expires_at, last_used_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            digest.clone().into(),
            "my_cool_website".into(),
            "347".into(),
            seal(
                b"keyward/keyservice/session/v1",
                INIT_TOKEN,
                format!("keyservice|session|{digest}"),
            )
            .into(),
            T0_MS.into(),
            (T0_MS + 86_400_000).into(),
            T0_MS.into(),
        ],
    );

    h.now_ms.set(T0_MS + 5_000);
    let put = Request::new("PUT", "/key")
        .with_header("Authorization", PUT_AUTH)
        .with_header("X-Date", "Tue, 01 Dec 2026 10:00:05 GMT")
        .with_header("Content-Type", "application/json")
        .with_body(jwk.to_vec());
    assert_eq!(h.call(KEY, put).status, 204);

    h.now_ms.set(T0_MS + 6_000);
    let get = Request::new("GET", "/key")
        .with_header("Authorization", GET_AUTH)
        .with_header("X-Date", "Tue, 01 Dec 2026 10:00:06 GMT");
    let r = h.call(KEY, get.clone());
    assert_eq!(r.status, 200);
    assert_eq!(r.body, jwk.to_vec());
    assert_eq!(r.header("content-type"), Some("application/json"));
    h.call(KEY, get).assert_error(401, "AUTH_INVALID");

    h.now_ms.set(T0_MS + 7_000);
    let del = Request::new("DELETE", "/key")
        .with_header("Authorization", DELETE_AUTH)
        .with_header("X-Date", "Tue, 01 Dec 2026 10:00:07 GMT");
    assert_eq!(h.call(KEY, del).status, 204);
    let s = Session {
        namespace: "my_cool_website".into(),
        user_id: "347".into(),
        init_token: INIT_TOKEN.into(),
        session_token: SESSION.into(),
    };
    h.key(&s, "GET", b"").assert_error(404, "KEY_NOT_FOUND");
    h.connect("my_cool_website", NS_SECRET, "347", HASH)
        .assert_error(409, "INIT_TOKEN_INVALID");
}
