//! guardian's signing vectors (guardian-core's `tests/vectors/guardian.json`) and the Hardhat
//! addresses they sign for, for the native tests and the end-to-end tests alike.

use serde_json::{Value, json};

use crate::driver::Driver;
use crate::reply::Reply;

/// The first and third addresses of the Hardhat mnemonic ([`crate::secrets::HARDHAT_MNEMONIC`]).
pub const ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
pub const ADDR2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// Every vector.
pub fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!(
        "../../../../protocol/guardian-core/tests/vectors/guardian.json"
    ))
    .expect("vectors")
}

/// The vector called `name`.
#[track_caller]
pub fn vector(name: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// A `/guardian/sign-tx` answer `j` is the transaction vector `v`'s: raw, hash, sender and the
/// signed transaction as JSON.
#[track_caller]
pub fn assert_signed_tx(j: &Value, v: &Value) {
    assert_eq!(j["signed_tx_rlp"], v["signed_tx_rlp"]);
    assert_eq!(j["tx_hash"], v["tx_hash"]);
    assert_eq!(j["from"], v["from"]);
    let text = j["signed_tx_json"]
        .as_str()
        .expect("signed_tx_json is a string");
    let parsed: Value = serde_json::from_str(text).expect("signed_tx_json is JSON");
    assert_eq!(parsed, v["signed_tx_json"]);
}

/// guardian's tables as they were before token chains had ids (marker `gd_schema_1`), for the
/// tests of the migration that adds `gd_token.chain_id` (docs/guardian.md, "Storage").
pub const SCHEMA_BEFORE_CHAIN_IDS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gd_user (user_id TEXT PRIMARY KEY, mnemonic_ct TEXT NOT NULL, \
     address0 TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_token (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
     kind TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
     chain_started_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gd_token_expires ON gd_token (expires_at)",
    "CREATE TABLE IF NOT EXISTS gd_config (name TEXT PRIMARY KEY, value TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_id_token (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_export_log (user_id TEXT NOT NULL, exported_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_schema_1 (complete INTEGER NOT NULL)",
];

// ---------------------------------------------------------------------------------------------
// Signing policies (docs/guardian.md, "Design: signing policies"), written once and run natively
// (guardian-service's tests/policy.rs) and over HTTP (keyward-e2e's guardian_policy). Each
// changes the deployment's document, so each needs a deployment of its own.

/// The database label.
pub const DB: &str = "guardian";

/// The maintainer's bearer token in [`SETTINGS`].
pub const ADMIN_TOKEN: &str = "admin-token-for-the-guardian-policy-scenarios";

/// The variables both drivers run the policy scenarios with (each adds where its Okta is): the
/// maintainer API on, and room for many logins from one address (the limits have their own tests).
pub const SETTINGS: &[(&str, &str)] = &[
    ("admin_token", ADMIN_TOKEN),
    ("login_user_rate_limit_per_minute", "1000"),
    ("login_rate_limit_per_minute", "1000"),
];

/// A digest for `POST /guardian/sign`.
pub const RAW: &str = "397ed6e91ab1a5f3274256aa514495d712f06db38de036ca24c5e5e5f999868d";
/// Addresses the documents name: a game contract, a vault, a denied one, one never named.
pub const GAME: &str = "0x1111111111111111111111111111111111111111";
pub const VAULT: &str = "0x2222222222222222222222222222222222222222";
pub const BAD: &str = "0x3333333333333333333333333333333333333333";
pub const OTHER: &str = "0x4444444444444444444444444444444444444444";

/// One scenario per `#[test]` against `driver()`, a fresh deployment each (with the Okta
/// stand-in: [`OktaStandIn`] natively, keyward-e2e's stub over HTTP); the list lives here, once,
/// for both runners.
#[macro_export]
macro_rules! guardian_policy_scenario_tests {
    ($driver:expr) => {
        $crate::scenario_tests!(guardian, $driver;
            every_policy_rule_allows_and_refuses_with_its_code,
            a_user_document_beats_the_deployments_and_only_the_maintainer_sets_one,
        );
    };
}

/// Okta's Authentication API as keyward-e2e's stub answers an ordinary user: any password but
/// "bad" is `SUCCESS` for the Okta user `00u<username>`; "bad" is 401.
#[derive(Debug, Default, Clone, Copy)]
pub struct OktaStandIn;

impl guest_kit::Fetch for OktaStandIn {
    fn fetch(
        &self,
        req: &guest_kit::OutboundRequest,
    ) -> Result<guest_kit::OutboundResponse, guest_kit::FetchError> {
        assert!(req.url.ends_with("/api/v1/authn"), "{}", req.url);
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if body["password"] == "bad" {
            return crate::outbound_json(
                401,
                &json!({"errorCode": "E0000004", "errorSummary": "Authentication failed"}),
            );
        }
        let user = body["username"].as_str().unwrap_or_default();
        crate::outbound_json(
            200,
            &json!({"status": "SUCCESS", "sessionToken": "s",
                    "_embedded": {"user": {"id": format!("00u{user}")}}}),
        )
    }
}

/// A client token of the Okta user `00u<name>` (its key made on first login).
#[track_caller]
pub fn login(d: &dyn Driver, name: &str) -> String {
    let body = json!({"okta_username": name, "okta_password": "pw"}).to_string();
    let r = d.post("/guardian/login", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["client_token"]
        .as_str()
        .expect("client_token")
        .to_owned()
}

/// The maintainer's route for the document of the Okta user `00u<name>` (user id
/// `okta:00u<name>`, percent-encoded).
pub fn user_path(name: &str) -> String {
    format!("/guardian/policy/user?user=okta%3A00u{name}")
}

/// A legacy transaction body for `/guardian/sign-tx` (a contract creation when `to` is `None`).
pub fn tx(chain_id: u64, to: Option<&str>, value: &str) -> Value {
    json!({"nonce": 0, "gas_limit": 21000, "gas_price": "1", "chain_id": chain_id,
           "to": to, "amount": value, "data": if to.is_none() { "0x6000" } else { "0x" }})
}

/// A `/guardian/sign-typed-data` body with this domain and primary type.
pub fn typed(name: &str, chain_id: u64, contract: &str, primary: &str) -> Value {
    json!({"typed_data": {
        "types": {primary: [{"name": "x", "type": "uint256"}]},
        "primaryType": primary,
        "domain": {"name": name, "chainId": chain_id, "verifyingContract": contract},
        "message": {"x": 1},
    }})
}

/// A `/guardian/sign-authorization` body (EIP-7702).
pub fn authorization(chain_id: u64, delegate: &str) -> Value {
    json!({"chain_id": chain_id, "address": delegate, "nonce": 0})
}

/// A maintainer's request with `bearer`.
pub fn admin(
    d: &dyn Driver,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<&Value>,
) -> Reply {
    let auth = format!("Bearer {bearer}");
    let body = body.map(Value::to_string).unwrap_or_default();
    d.call(
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Sets the document at `path` (the deployment's or a user's); its normal form.
#[track_caller]
pub fn put(d: &dyn Driver, path: &str, doc: &Value) -> Value {
    let r = admin(d, "PUT", path, ADMIN_TOKEN, Some(doc));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// guardian's error: the status and code, `Cache-Control: no-store`; the body.
#[track_caller]
pub fn expect_error(r: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        (r.status, r.error_code()),
        (status, code.to_owned()),
        "{}",
        r.text()
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

/// A user signing with a chain of client tokens, each call moving on to the fresh one.
pub struct Signer<'a> {
    pub d: &'a dyn Driver,
    pub token: String,
}

impl<'a> Signer<'a> {
    /// Logs the Okta user `00u<name>` in.
    #[track_caller]
    pub fn login(d: &'a dyn Driver, name: &str) -> Self {
        Signer {
            d,
            token: login(d, name),
        }
    }

    /// One signing call; the token moves on to the fresh one every answer below 500 carries.
    #[track_caller]
    pub fn call(&mut self, path: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let r = self.d.call(
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        if r.status < 500 {
            self.token = r.json()["fresh_client_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no fresh token: {}", r.text()))
                .to_owned();
        }
        r
    }

    #[track_caller]
    pub fn allowed(&mut self, path: &str, body: Value) {
        let r = self.call(path, &body);
        assert_eq!(r.status, 200, "{path} {body}: {}", r.text());
    }

    /// 403 with `code`, the fresh token kept; the body.
    #[track_caller]
    pub fn refused(&mut self, path: &str, body: Value, code: &str) -> Value {
        let r = self.call(path, &body);
        let j = expect_error(&r, 403, code);
        assert!(j["fresh_client_token"].is_string(), "{j}");
        j
    }
}

const SIGN: &str = "/guardian/sign";
const SIGN_MESSAGE: &str = "/guardian/sign-message";
const SIGN_TX: &str = "/guardian/sign-tx";
const SIGN_TYPED: &str = "/guardian/sign-typed-data";
const SIGN_AUTHORIZATION: &str = "/guardian/sign-authorization";

/// Without a document everything signs as before; then every rule of a deployment document
/// allows what it names and refuses the rest with its own 403 code, on every signing route
/// (digests, personal_sign, transactions, typed data, EIP-7702 authorizations); a bad request is
/// still 400 before the policy is asked; a document that switches transactions, typed data and
/// EIP-7702 off refuses those alone.
pub fn every_policy_rule_allows_and_refuses_with_its_code(d: &dyn Driver) {
    let mut u = Signer::login(d, "rules");
    u.allowed(SIGN, json!({"raw_data": RAW}));
    u.allowed(SIGN_MESSAGE, json!({"message": "hi"}));
    u.allowed(SIGN_TX, tx(5, None, "7"));
    u.allowed(SIGN_TYPED, typed("Any", 9, BAD, "Any"));
    u.allowed(SIGN_AUTHORIZATION, authorization(1, GAME));

    put(
        d,
        "/guardian/policy",
        &json!({
            "chain_ids": [1, 8453],
            "transactions": {"to_allow": [GAME, VAULT, BAD], "to_deny": [BAD],
                             "contract_creation": false, "max_value": "1000"},
            "typed_data": {"domains": [{"name": "Game", "chain_id": 8453, "verifying_contract": GAME}],
                           "primary_types": ["Move"]},
            "raw_digest": false,
            "personal_sign": false,
            "eip7702": {"allowed": true, "delegates": [GAME]},
        }),
    );
    u.allowed(SIGN_TX, tx(1, Some(VAULT), "1000"));
    u.allowed(SIGN_TX, tx(8453, Some(GAME), "0"));
    for (body, code) in [
        (tx(5, Some(VAULT), "1"), "POLICY_CHAIN_NOT_ALLOWED"),
        (tx(1, Some(BAD), "1"), "POLICY_RECIPIENT_DENIED"),
        (tx(1, Some(OTHER), "1"), "POLICY_RECIPIENT_NOT_ALLOWED"),
        (tx(1, None, "0"), "POLICY_CONTRACT_CREATION_DISABLED"),
    ] {
        u.refused(SIGN_TX, body, code);
    }
    let j = u.refused(SIGN_TX, tx(1, Some(VAULT), "1001"), "POLICY_VALUE_EXCEEDED");
    assert!(
        j["message"].as_str().expect("message").contains("1001"),
        "{j}"
    );
    u.refused(SIGN, json!({"raw_data": RAW}), "POLICY_RAW_DIGEST_DISABLED");
    u.refused(
        SIGN_MESSAGE,
        json!({"message": "hi"}),
        "POLICY_PERSONAL_SIGN_DISABLED",
    );
    u.allowed(SIGN_TYPED, typed("Game", 8453, GAME, "Move"));
    for (body, code) in [
        (
            typed("Gamf", 8453, GAME, "Move"),
            "POLICY_TYPED_DATA_DOMAIN",
        ),
        (
            typed("Game", 8453, VAULT, "Move"),
            "POLICY_TYPED_DATA_DOMAIN",
        ),
        (typed("Game", 1, GAME, "Move"), "POLICY_TYPED_DATA_DOMAIN"),
        (typed("Game", 10, GAME, "Move"), "POLICY_CHAIN_NOT_ALLOWED"),
        (
            typed("Game", 8453, GAME, "Permit"),
            "POLICY_TYPED_DATA_PRIMARY_TYPE",
        ),
    ] {
        u.refused(SIGN_TYPED, body, code);
    }
    u.allowed(SIGN_AUTHORIZATION, authorization(8453, GAME));
    u.refused(
        SIGN_AUTHORIZATION,
        authorization(1, VAULT),
        "POLICY_DELEGATE_NOT_ALLOWED",
    );
    u.refused(
        SIGN_AUTHORIZATION,
        authorization(0, GAME),
        "POLICY_CHAIN_NOT_ALLOWED",
    );
    // A bad request is still 400, before the policy is asked.
    expect_error(
        &u.call(SIGN, &json!({"raw_data": "12"})),
        400,
        "INVALID_RAW_DATA",
    );

    // Transactions and typed data switched off entirely; a document that does not allow
    // EIP-7702 refuses every authorization; digests and messages sign again.
    put(
        d,
        "/guardian/policy",
        &json!({"transactions": {"allowed": false}, "typed_data": {"allowed": false}}),
    );
    u.refused(
        SIGN_TX,
        tx(1, Some(VAULT), "0"),
        "POLICY_TRANSACTIONS_DISABLED",
    );
    u.refused(
        SIGN_TYPED,
        typed("Game", 8453, GAME, "Move"),
        "POLICY_TYPED_DATA_DISABLED",
    );
    u.refused(
        SIGN_AUTHORIZATION,
        authorization(1, GAME),
        "POLICY_EIP7702_DISABLED",
    );
    u.allowed(SIGN, json!({"raw_data": RAW}));
    u.allowed(SIGN_MESSAGE, json!({"message": "hi"}));
}

/// Only the maintainer's bearer sets a document (a user's token and a wrong bearer are 401, a bad
/// document 400 naming the field); a user's document replaces the deployment's for that user
/// only, and once deleted the deployment's applies to them again; a document can be set for a
/// user who has not logged in yet.
pub fn a_user_document_beats_the_deployments_and_only_the_maintainer_sets_one(d: &dyn Driver) {
    let mut alice = Signer::login(d, "alice");
    let mut bob = Signer::login(d, "bob");
    let doc = json!({"raw_digest": false});
    let alice_token = alice.token.clone();
    for bearer in [alice_token.as_str(), "not-the-admin-token"] {
        for path in ["/guardian/policy".to_owned(), user_path("alice")] {
            expect_error(
                &admin(d, "PUT", &path, bearer, Some(&doc)),
                401,
                "AUTH_INVALID",
            );
        }
    }
    expect_error(
        &admin(d, "GET", "/guardian/policy", ADMIN_TOKEN, None),
        404,
        "POLICY_NOT_FOUND",
    );
    let r = admin(
        d,
        "PUT",
        "/guardian/policy",
        ADMIN_TOKEN,
        Some(&json!({"raw_digest": "no"})),
    );
    let j = expect_error(&r, 400, "INVALID_POLICY");
    assert!(
        j["message"]
            .as_str()
            .expect("message")
            .contains("raw_digest"),
        "{j}"
    );
    alice.allowed(SIGN, json!({"raw_data": RAW}));

    put(d, "/guardian/policy", &doc);
    put(d, &user_path("alice"), &json!({"personal_sign": false}));
    let got = admin(d, "GET", &user_path("alice"), ADMIN_TOKEN, None);
    assert_eq!(got.json()["personal_sign"], json!(false));
    // Alice: her document only (raw digests allowed again, personal_sign not).
    alice.allowed(SIGN, json!({"raw_data": RAW}));
    alice.refused(
        SIGN_MESSAGE,
        json!({"message": "hi"}),
        "POLICY_PERSONAL_SIGN_DISABLED",
    );
    // Bob: the deployment's.
    bob.refused(SIGN, json!({"raw_data": RAW}), "POLICY_RAW_DIGEST_DISABLED");
    bob.allowed(SIGN_MESSAGE, json!({"message": "hi"}));
    // Her document dropped, the deployment's applies to her too.
    let r = admin(d, "DELETE", &user_path("alice"), ADMIN_TOKEN, None);
    assert_eq!(r.json(), json!({"deleted": true}));
    alice.refused(SIGN, json!({"raw_data": RAW}), "POLICY_RAW_DIGEST_DISABLED");
    put(d, &user_path("NOTYET"), &json!({}));
}
