//! guardian's identities through the host (docs/guardian.md, "User identity", "OpenID Connect",
//! "Design: export"): a user is bound to the identity provider that created it, so a
//! maintainer who repoints `okta_base_url` or `oidc_jwks_url` with `/guardian/authorize` at a
//! stand-in asserting the same user id does not log in as that user; export takes only the
//! token of a fresh authentication made for guardian (Okta, or an id_token answering the
//! login's nonce with a recent `auth_time`), never the app's own id_token. Runs on both passes
//! of `cargo xtask test`.

use alloy_primitives::{Address, B256, Signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_verify::Algorithm;
use jwt_verify::test_signer::TestSigner;
use keyward_e2e::guardian::{self as gd, AUDIENCE, ISSUER, expect_error, post, token_of};
use keyward_e2e::{Host, Resp, Stub, Value, json};
use sha2::{Digest, Sha256};

const ADMIN: &str = "admin-token-for-the-guardian-identity-e2e";

/// guardian with Okta at `okta`, OIDC keys at `jwks`, every stand-in in `reachable` allowed
/// as an identity-provider host, the maintainer API and export on.
fn host(okta: u16, jwks: u16, reachable: &[&Stub], vars: &[(&str, &str)]) -> Host {
    let hosts = reachable
        .iter()
        .map(|s| format!("http://127.0.0.1:{}", s.port))
        .collect::<Vec<_>>()
        .join(",");
    let mut all = vec![
        ("admin_token", ADMIN),
        ("allow_export", "true"),
        ("guardian_idp_hosts", hosts.as_str()),
    ];
    all.extend_from_slice(vars);
    gd::host(okta, jwks, &all)
}

fn authorize(h: &Host, body: &Value) -> Resp {
    post(h, "/guardian/authorize", Some(ADMIN), body)
}

fn okta_login(h: &Host, user: &str) -> Resp {
    post(
        h,
        "/guardian/login",
        None,
        &json!({"okta_username": user, "okta_password": "pw", "get_address": true}),
    )
}

fn id_login(h: &Host, id_token: &str, nonce: Option<&str>) -> Resp {
    let mut body = json!({"id_token": id_token, "get_address": true});
    if let Some(n) = nonce {
        body["nonce"] = json!(n);
    }
    post(h, "/guardian/login", None, &body)
}

fn now() -> i64 {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    i64::try_from(s).expect("time")
}

fn claims(sub: &str, jti: &str) -> Value {
    let now = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600, "jti": jti})
}

/// What an id_token's `nonce` claim holds for a login sending `nonce`, computed here from
/// OpenID Connect's description, not guardian's code.
fn nonce_claim(nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(nonce.as_bytes()))
}

/// The login's address; 200 required.
fn address(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["address"].as_str().expect("address").to_owned()
}

/// `token` signs a digest at `h` with the key of `address` (recovered with alloy).
fn signs_as(h: &Host, token: &str, address: &str) {
    let digest = format!("0x{}", "ab".repeat(32));
    let r = post(
        h,
        "/guardian/sign",
        Some(token),
        &json!({"raw_data": digest}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sig = hex::decode(
        r.json()["signature"]
            .as_str()
            .expect("sig")
            .trim_start_matches("0x"),
    )
    .expect("hex");
    let got = Signature::from_raw(&sig)
        .expect("signature")
        .recover_address_from_prehash(&digest.parse::<B256>().expect("digest"))
        .expect("recover");
    assert_eq!(got, address.parse::<Address>().expect("address"));
}

/// Hole: `okta:{id}` had no org, so another Okta org reached every existing user.
#[test]
fn a_maintainer_who_repoints_okta_does_not_log_in_as_an_existing_user() {
    let (org_a, org_b) = (gd::okta_stub(), gd::okta_stub());
    let h = host(org_a.port, 1, &[&org_a, &org_b], &[]);
    let r = okta_login(&h, "alice");
    let alice = address(&r);
    signs_as(&h, &token_of(&r), &alice);

    // Org B says the same user id (`00ualice`) to anyone who types "alice".
    let b = format!("http://127.0.0.1:{}", org_b.port);
    assert_eq!(authorize(&h, &json!({"okta_base_url": b})).status, 200);
    let j = expect_error(&okta_login(&h, "alice"), 403, "IDENTITY_PROVIDER_MISMATCH");
    assert!(j.get("client_token").is_none(), "{j}");
    // A user that only org B knows is a new identity with a new key.
    let r = okta_login(&h, "mallory");
    assert_eq!(r.json()["created"], true, "{}", r.text());
    assert_ne!(address(&r), alice);

    // Back at org A, Alice's key is hers as before.
    assert_eq!(authorize(&h, &json!({"okta_base_url": null})).status, 200);
    let r = okta_login(&h, "alice");
    assert_eq!(address(&r), alice);
    assert_eq!(r.json()["created"], false);
    signs_as(&h, &token_of(&r), &alice);
}

/// Hole: the JWKS URL could be repointed without the issuer, and then other keys vouched for
/// every `oidc:{iss}#{sub}`.
#[test]
fn a_maintainer_who_repoints_the_jwks_url_does_not_log_in_as_an_existing_user() {
    let ours = TestSigner::new(Algorithm::RS256, "ours");
    let theirs = TestSigner::new(Algorithm::ES256, "theirs");
    let (keys_a, keys_b) = (gd::jwks_stub(&[&ours]), gd::jwks_stub(&[&theirs]));
    let h = host(1, keys_a.port, &[&keys_a, &keys_b], &[]);
    let r = id_login(&h, &ours.sign(&claims("carol", "1")), None);
    let carol = address(&r);

    let b = format!("http://127.0.0.1:{}/jwks", keys_b.port);
    assert_eq!(authorize(&h, &json!({"oidc_jwks_url": b})).status, 200);
    expect_error(
        &id_login(&h, &theirs.sign(&claims("carol", "2")), None),
        403,
        "IDENTITY_PROVIDER_MISMATCH",
    );
    assert_eq!(authorize(&h, &json!({"oidc_jwks_url": null})).status, 200);
    let r = id_login(&h, &ours.sign(&claims("carol", "3")), None);
    assert_eq!(address(&r), carol);
    signs_as(&h, &token_of(&r), &carol);
}

/// Hole: an unused id_token from the app's own login exported the key. Item 5: a single-page
/// app's id_token, bound to the nonce it sends, logs in and (authenticated just now) exports.
#[test]
fn export_needs_a_fresh_authentication_made_for_guardian() {
    let signer = TestSigner::new(Algorithm::RS256, "spa");
    let keys = gd::jwks_stub(&[&signer]);
    let okta = gd::okta_stub();
    let h = host(okta.port, keys.port, &[&okta, &keys], &[]);
    let export = |t: &str| post(&h, "/guardian/export", Some(t), &json!({}));

    // The app's own login: its nonce is the app's, and the login sends none.
    let mut own = claims("dave", "own");
    own["nonce"] = json!("the-apps-own-nonce");
    own["auth_time"] = json!(now());
    let r = id_login(&h, &signer.sign(&own), None);
    let dave = address(&r);
    let t = token_of(&r);
    let j = expect_error(&export(&t), 403, "FRESH_LOGIN_REQUIRED");
    assert!(j.get("mnemonic").is_none(), "{j}");
    // The token stays usable.
    signs_as(&h, &t, &dave);

    // A nonce that is not the login's.
    let nonce = "spa-3f1c9a0e6b2d4f58a7c1";
    let mut other = claims("dave", "other");
    other["nonce"] = json!(nonce_claim("another-login"));
    other["auth_time"] = json!(now());
    expect_error(
        &id_login(&h, &signer.sign(&other), Some(nonce)),
        401,
        "ID_TOKEN_INVALID",
    );

    // The single-page app's login for guardian.
    let mut spa = claims("dave", "spa");
    spa["nonce"] = json!(nonce_claim(nonce));
    spa["auth_time"] = json!(now() - 5);
    let r = id_login(&h, &signer.sign(&spa), Some(nonce));
    assert_eq!(address(&r), dave);
    let r = export(&token_of(&r));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["address"], dave.as_str());

    // Okta: guardian ran the password and push check itself.
    let r = okta_login(&h, "erin");
    let erin = address(&r);
    let r = export(&token_of(&r));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["address"], erin.as_str());
}

#[test]
fn a_deployment_can_require_the_nonce() {
    let signer = TestSigner::new(Algorithm::RS256, "spa");
    let keys = gd::jwks_stub(&[&signer]);
    let h = host(1, keys.port, &[&keys], &[("oidc_require_nonce", "true")]);
    let j = expect_error(
        &id_login(&h, &signer.sign(&claims("fay", "1")), None),
        400,
        "BAD_REQUEST",
    );
    assert!(
        j["message"].as_str().expect("message").contains("nonce"),
        "{j}"
    );
    let mut c = claims("fay", "2");
    c["nonce"] = json!(nonce_claim("n-1"));
    assert_eq!(id_login(&h, &signer.sign(&c), Some("n-1")).status, 200);
}
