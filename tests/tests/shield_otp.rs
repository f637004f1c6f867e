//! shield 2FA end to end (docs/shield.md, "Design: OTP and 2FA"): `keyward serve` with the real
//! `spin.toml`, a webhook receiver standing in for an e-mail/SMS relay on 127.0.0.1 (it checks
//! the `X-Keyward-Signature` HMAC and its replay window with its own HMAC, as a relay would, and
//! hands the codes to the test), the official client's `enable2FA` and OTP-gated reads, and the
//! limits: per project and hour, per user.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use keyward_e2e::shield::builder;
use keyward_e2e::{Host, Stub, Value, json};
use keyward_test_kit::Driver;
use keyward_test_kit::scenarios::shield::{
    self as scenarios, Done as _, Keys, Project, refused, register, token,
};
use sha2::{Digest as _, Sha256};

const SECRET: &str = "e2e-webhook-secret";
const INVALID: (u16, &str, &str) = (400, "OTP_INVALID", "Received otp is invalid");
const INVALIDATED: (u16, &str, &str) = (
    400,
    "OTP_INVALIDATED",
    "OTP invalidated after max failed attempts",
);
const MISSING: (u16, &str, &str) = (428, "OTP_MISSING", "OTP is required for this request");
const LIMITED: (u16, &str, &str) = (429, "OTP_RATE_LIMIT", "Rate limit exceeded to generate OTP");

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// HMAC-SHA256, written here from RFC 2104 so the receiver does not share shield's code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The receiver's check: `t=<unix>,v1=<hex>`, `t` within five minutes, `v1` over `"<t>." ‖ body`.
fn signature_ok(header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for item in header.split(',') {
        match item.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    (now_secs() - t).abs() <= 300 && hex::encode(hmac_sha256(SECRET.as_bytes(), &msg)) == v1
}

/// The relay stand-in: accepts correctly signed deliveries (204) and keeps their bodies;
/// anything else is 401, which shield answers as 502.
struct Receiver {
    stub: Stub,
    delivered: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let kept = delivered.clone();
        let stub = Stub::start(move |req| {
            let signed = req
                .header("x-keyward-signature")
                .is_some_and(|h| signature_ok(h, &req.body));
            if req.method != "POST" || req.target != "/otp-hook" || !signed {
                return (401, "application/json", b"{}".to_vec());
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            kept.lock().unwrap_or_else(|e| e.into_inner()).push(body);
            (204, "application/json", Vec::new())
        });
        Receiver { stub, delivered }
    }

    fn deliveries(&self) -> Vec<Value> {
        self.delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The code of the last delivery to `user`.
    #[track_caller]
    fn code_for(&self, user: &str) -> String {
        let all = self.deliveries();
        let last = all
            .iter()
            .rev()
            .find(|d| d["user_id"] == user)
            .unwrap_or_else(|| panic!("no delivery to {user}: {all:?}"));
        last["code"].as_str().expect("code").to_owned()
    }
}

/// A host whose OTP webhook is `receiver`, signing with `secret`.
fn host(receiver: &Receiver, secret: &str) -> Host {
    install_keys();
    let base = receiver.stub.base_url();
    builder()
        .env("SPIN_VARIABLE_OTP_WEBHOOK_URL", &format!("{base}/otp-hook"))
        .env("SPIN_VARIABLE_OTP_WEBHOOK_SECRET", secret)
        .env("SPIN_VARIABLE_OTP_WEBHOOK_HOSTS", &base)
        .env("SPIN_VARIABLE_OTP_SMS_PER_HOUR", "2")
        .env("SPIN_VARIABLE_OTP_EMAIL_PER_HOUR", "50")
        .start()
}

fn install_keys() {
    use jwt_verify::test_signer::{hs256_token, public_pem_of, sign_as};
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: hs256_token,
    });
}

/// A project with a key, a CUSTOM PEM provider and a `project` share for `user`.
fn project_with_share<'d>(d: &'d dyn Driver, user: &str) -> Project<'d> {
    let p = register(d, true);
    p.pem_provider("RS256", "");
    let part = p.part.clone().expect("part");
    let share =
        json!({"secret": "otp-project-secret", "entropy": "project", "encryption_part": part});
    p.custom(&token(d, "RS256", user))
        .post("/shares", &share)
        .done(201);
    p
}

fn session(p: &Project<'_>, user: &str, code: Option<&str>) -> keyward_test_kit::Reply {
    let part = p.part.clone().expect("part");
    let mut body = json!({"encryption_part": part, "user_id": user});
    if let Some(c) = code {
        body["otp_code"] = json!(c);
    }
    p.post("/project/encryption-session", &body)
}

fn session_id(r: &keyward_test_kit::Reply) -> String {
    r.done(200)["session_id"]
        .as_str()
        .expect("session_id")
        .to_owned()
}

// shield-js 0.1.37's enable2FA, then its reads through sessions with and without a code: the
// 428 gate maps to OTPRequiredError.
#[test]
fn npm_shield_js_enable_2fa_and_otp_gated_reads() {
    let prefix = keyward_e2e::npm_install("@openfort/shield-js@0.1.37");
    let receiver = Receiver::start();
    let h = host(&receiver, SECRET);
    let d: &dyn Driver = &h;
    let user = "otp-js";
    let p = project_with_share(d, user);
    let part = p.part.clone().expect("part");
    // A session from before 2FA.
    let before = p.session(&part);
    let prefix = prefix.path().to_string_lossy().into_owned();
    let tok = token(d, "RS256", user);
    let common = [
        ("KEYWARD_URL", h.base.as_str()),
        ("SHIELD_API_KEY", p.key.as_str()),
        ("SHIELD_API_SECRET", p.secret.as_str()),
        ("SHIELD_TOKEN", tok.as_str()),
        ("SHIELD_JS_PREFIX", prefix.as_str()),
    ];
    let mut enable = common.to_vec();
    enable.push(("SHIELD_OTP_PHASE", "enable"));
    keyward_e2e::run_npm_client("shield-otp.mjs", &enable, 2);
    assert_eq!(p.get("/project").done(200)["enabled_2fa"], true);

    // The backend's part: a session without a code (skip verification), two with codes from
    // the webhook.
    p.post(
        "/project/otp",
        &json!({"user_id": user, "dangerously_skip_verification": true}),
    )
    .done(200);
    let skipped = session_id(&session(&p, user, None));
    assert!(receiver.deliveries().is_empty(), "skip sends nothing");
    let mut verified = Vec::new();
    for _ in 0..2 {
        p.post(
            "/project/otp",
            &json!({"user_id": user, "email": "otp-js@example.com"}),
        )
        .done(200);
        let code = receiver.code_for(user);
        verified.push(session_id(&session(&p, user, Some(&code))));
    }
    let d0 = &receiver.deliveries()[0];
    assert_eq!(
        (&d0["type"], &d0["project_id"], &d0["channel"], &d0["to"]),
        (
            &json!("shield.otp"),
            &json!(p.id),
            &json!("email"),
            &json!("otp-js@example.com")
        )
    );
    let unverified = format!("{before},{skipped}");
    let verified = verified.join(",");
    let mut gated = common.to_vec();
    gated.extend([
        ("SHIELD_OTP_PHASE", "gated"),
        ("SHIELD_UNVERIFIED", unverified.as_str()),
        ("SHIELD_VERIFIED", verified.as_str()),
    ]);
    keyward_e2e::run_npm_client("shield-otp.mjs", &gated, 4);
}

// The codes over HTTP: single use, wrong guesses, the per-user limit after three invalidated
// codes, the per-project hourly SMS budget, a receiver that refuses a bad signature.
#[test]
fn otp_codes_and_limits() {
    let receiver = Receiver::start();
    let h = host(&receiver, SECRET);
    let d: &dyn Driver = &h;
    let p = project_with_share(d, "carol");
    p.post("/project/enable-2fa", &json!({})).done(200);
    // Single use.
    p.post(
        "/project/otp",
        &json!({"user_id": "carol", "email": "carol@example.com"}),
    )
    .done(200);
    let code = receiver.code_for("carol");
    session_id(&session(&p, "carol", Some(&code)));
    refused(&session(&p, "carol", Some(&code)), MISSING);
    // Per user: three codes invalidated by wrong guesses, then no new code.
    for _ in 0..3 {
        p.post(
            "/project/otp",
            &json!({"user_id": "carol", "email": "carol@example.com"}),
        )
        .done(200);
        let code = receiver.code_for("carol");
        let wrong = if code == "000000000" {
            "000000001"
        } else {
            "000000000"
        };
        refused(&session(&p, "carol", Some(wrong)), INVALID);
        refused(&session(&p, "carol", Some(wrong)), INVALID);
        refused(&session(&p, "carol", Some(wrong)), INVALIDATED);
        refused(&session(&p, "carol", Some(&code)), MISSING);
    }
    let sent = receiver.deliveries().len();
    refused(
        &p.post(
            "/project/otp",
            &json!({"user_id": "carol", "email": "carol@example.com"}),
        ),
        LIMITED,
    );
    assert_eq!(
        receiver.deliveries().len(),
        sent,
        "nothing sent over the limit"
    );
    p.post(
        "/project/otp",
        &json!({"user_id": "dan", "email": "dan@example.com"}),
    )
    .done(200);

    // Per project and clock hour (otp_sms_per_hour = 2), not across a boundary.
    let into_hour = now_secs().rem_euclid(3600);
    if into_hour > 3590 {
        std::thread::sleep(std::time::Duration::from_secs(
            (3600 - into_hour + 1) as u64,
        ));
    }
    let sms = |p: &Project<'_>, u: &str| {
        p.post(
            "/project/otp",
            &json!({"user_id": u, "phone": "+15550109999"}),
        )
    };
    sms(&p, "s1").done(200);
    sms(&p, "s2").done(200);
    let r = sms(&p, "s3");
    refused(&r, LIMITED);
    let retry: u64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("secs");
    assert!((1..=3600).contains(&retry), "{retry}");
    let q = project_with_share(d, "s1");
    q.post("/project/enable-2fa", &json!({})).done(200);
    sms(&q, "s1").done(200);
    let sms_sent = receiver
        .deliveries()
        .iter()
        .filter(|d| d["channel"] == "sms" && d["project_id"] == json!(p.id))
        .count();
    assert_eq!(sms_sent, 2);

    // A host signing with another secret: the receiver refuses, shield answers 502.
    let wrong = host(&receiver, "not-the-receivers-secret");
    let pw = project_with_share(&wrong, "w");
    pw.post("/project/enable-2fa", &json!({})).done(200);
    refused(
        &pw.post(
            "/project/otp",
            &json!({"user_id": "w", "email": "w@example.com"}),
        ),
        (502, "OTP_DELIVERY_FAILED", "The OTP could not be delivered"),
    );
}
