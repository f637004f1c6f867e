//! docs/guardian.md, "OpenID Connect": OpenID Connect id_token login against a fake JWKS endpoint.

#![allow(clippy::restriction)] // a test reports by failing: unwrap, expect, index, panic

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use jwt_verify::Algorithm;
use jwt_verify::test_signer::{TestSigner, encode_token, hs256_token};
use serde_json::{Value, json};

const ISS: &str = OIDC_ISSUER;
const AUD: &str = OIDC_AUDIENCE;

fn setup(signers: &[&TestSigner]) -> Harness {
    Harness::oidc(signers)
}

fn now_s(h: &Harness) -> i64 {
    h.now.get() / 1000
}

fn claims(h: &Harness, n: i64) -> Value {
    let now = now_s(h);
    json!({"iss": ISS, "aud": AUD, "sub": "s-1", "iat": now, "exp": now + 600, "nonce": n,
           "email": "Ann@Example.com", "email_verified": true})
}

#[test]
fn rs256_es256_and_rejections() {
    let rs = TestSigner::new(Algorithm::RS256, "rs");
    let es = TestSigner::new(Algorithm::ES256, "es");
    let h = setup(&[&rs, &es]);
    let r = h.login(json!({"id_token": rs.sign(&claims(&h, 1))}));
    assert_eq!(r.status, 200, "{}", json(&r));
    assert_eq!(json(&r)["created"], true);
    let r = h.login(json!({"id_token": es.sign(&claims(&h, 2))}));
    assert_eq!(json(&r)["created"], false);
    assert_eq!(
        h.db_text("SELECT user_id FROM gd_user"),
        format!("oidc:{ISS}#s-1")
    );
    // JWKS fetched once (cached).
    assert_eq!(h.fake.requests.borrow().len(), 1);

    let mut wrong_iss = claims(&h, 3);
    wrong_iss["iss"] = json!("https://evil");
    let mut wrong_aud = claims(&h, 4);
    wrong_aud["aud"] = json!(["other", AUD]);
    let mut tampered = rs.sign(&claims(&h, 5));
    let last = tampered.pop().expect("c");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for tok in [
        rs.sign(&wrong_iss),
        rs.sign(&wrong_aud),
        tampered,
        encode_token(&json!({"alg": "none"}), &claims(&h, 6), b""),
        hs256_token(
            rs.jwk().to_string().as_bytes(),
            &json!({"alg": "HS256", "kid": "rs"}),
            &claims(&h, 7),
        ),
        TestSigner::alt(Algorithm::RS256, "zz").sign(&claims(&h, 8)),
        "x".repeat(17_000),
        String::new(),
    ] {
        assert_error(&h.login(json!({"id_token": tok})), 401, "ID_TOKEN_INVALID");
    }
    let mut expired = claims(&h, 9);
    expired["exp"] = json!(now_s(&h) - 61);
    assert_error(
        &h.login(json!({"id_token": rs.sign(&expired)})),
        401,
        "ID_TOKEN_EXPIRED",
    );
    let once = rs.sign(&claims(&h, 10));
    assert_eq!(h.login(json!({"id_token": once.clone()})).status, 200);
    assert_error(&h.login(json!({"id_token": once})), 401, "ID_TOKEN_INVALID");
}

#[test]
fn email_mode_and_domains() {
    let rs = TestSigner::new(Algorithm::RS256, "rs");
    let h = setup(&[&rs]);
    h.set_var("oidc_user_claim", "email");
    h.set_var("oidc_allowed_domains", "example.com");
    // (nonce, the claim changed, its value, the refusal).
    for (n, claim, value, status, code) in [
        (1, "email_verified", json!(false), 401, "ID_TOKEN_INVALID"),
        (2, "email", json!("x@other.org"), 403, "USER_NOT_IN_ORG"),
    ] {
        let mut c = claims(&h, n);
        c[claim] = value;
        assert_error(&h.login(json!({"id_token": rs.sign(&c)})), status, code);
    }
    let mut stringy = claims(&h, 3);
    stringy["email_verified"] = json!("true");
    assert_eq!(h.login(json!({"id_token": rs.sign(&stringy)})).status, 200);
    assert_eq!(
        h.db_text("SELECT user_id FROM gd_user"),
        "email:ann@example.com"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 1);
}

#[test]
fn jwks_unreachable_is_502_and_partial_config_is_503() {
    let rs = TestSigner::new(Algorithm::RS256, "rs");
    let h = setup(&[&rs]);
    h.idp(|_, _| Err(guest_kit::FetchError("timeout".into())));
    assert_error(
        &h.login(json!({"id_token": rs.sign(&claims(&h, 1))})),
        502,
        "IDP_UNAVAILABLE",
    );
    h.unset_var("oidc_audience");
    assert_error(
        &h.login(json!({"id_token": rs.sign(&claims(&h, 2))})),
        503,
        "NOT_CONFIGURED",
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM gd_user"), 0);
}

/// The same ES256 token with the signature's other valid form: `s` replaced by `n − s` (P-256's
/// group order), which verifies just as well.
fn other_form(token: &str) -> String {
    const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let (input, sig) = token.rsplit_once('.').expect("compact JWS");
    let mut sig = B64.decode(sig).expect("base64url");
    let n = hex::decode(N).expect("hex");
    let mut borrow = 0;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        sig[32 + i] = (d + 256 * borrow) as u8;
    }
    format!("{input}.{}", B64.encode(sig))
}

/// docs/guardian.md, "OpenID Connect": single use is keyed by the signing input, so the other
/// spelling of a spent ES256 token is spent too.
#[test]
fn a_spent_token_in_its_other_signature_form_is_refused() {
    let es = TestSigner::new(Algorithm::ES256, "es");
    let h = setup(&[&es]);
    let token = es.sign(&claims(&h, 1));
    let twin = other_form(&token);
    assert_ne!(twin, token);
    assert_eq!(h.login(json!({"id_token": token})).status, 200);
    let j = assert_error(&h.login(json!({"id_token": twin})), 401, "ID_TOKEN_INVALID");
    assert_eq!(j["message"], "id_token rejected: already used");
    // The other form is a valid signature: unspent, it logs in.
    let fresh = es.sign(&claims(&h, 2));
    assert_eq!(h.login(json!({"id_token": other_form(&fresh)})).status, 200);
}
