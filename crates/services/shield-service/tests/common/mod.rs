//! shield's native harness: the test kit's sandbox (real SQLite file, in-memory key-value
//! store, variables, fake clock; a fresh connection per call, like a fresh component instance)
//! and its scripted outbound HTTP, plus shield's own helpers (projects, user requests).

#![allow(dead_code, unused_imports)]

use guest_kit::{FetchError, OutboundRequest, OutboundResponse, Request};
use jwt_verify::Algorithm;
use jwt_verify::test_signer::TestSigner;
pub use keyward_test_kit::secrets::{MASTER_KEY, T0_MS};
use keyward_test_kit::{RouteTable, Sandbox, ScriptedFetch};
use serde_json::{Value, json};

/// The outbound HTTP stand-in (the kit's, under the name these tests know).
pub type MockFetch = ScriptedFetch;

pub struct Harness {
    pub sandbox: Sandbox,
    pub fetch: MockFetch,
    routes: RouteTable,
}

impl std::ops::Deref for Harness {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

/// The kit's response wrapper; shield's errors are also asserted by their message.
pub struct Reply(pub keyward_test_kit::Reply);

impl std::ops::Deref for Reply {
    type Target = keyward_test_kit::Reply;
    fn deref(&self) -> &keyward_test_kit::Reply {
        &self.0
    }
}

impl Reply {
    /// The body as JSON, `Null` when it is not (shield's tests read empty bodies this way).
    pub fn json(&self) -> Value {
        self.0.json_or_null()
    }

    /// The status and a JSON content type; the body as [`Reply::json`] reads it.
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, message: &str) {
        self.0.assert_error_message(status, code, message);
    }
}

pub struct Project {
    pub api_key: String,
    pub api_secret: String,
    pub part: Option<String>,
    pub id: String,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            sandbox: Sandbox::new("shield"),
            fetch: MockFetch::default(),
            routes: RouteTable::product(),
        }
    }

    pub fn on_fetch(
        &self,
        f: impl Fn(&OutboundRequest) -> Result<OutboundResponse, FetchError> + 'static,
    ) {
        self.fetch.set(Box::new(f));
    }

    /// One request through the component `spin.toml` routes its path to (an unrouted path goes
    /// to the project component, so its router words the 404).
    pub fn call(&self, req: Request) -> Reply {
        let group = self
            .routes
            .route(req.path())
            .map_or(shield_service::PROJECT, |c| c.group);
        let resp = self
            .sandbox
            .with_env(Some(&self.fetch), |env, _| (group.handle)(env, req));
        Reply(resp.into())
    }

    pub fn register(&self, with_key: bool) -> Project {
        let body = json!({"name": "p", "generate_encryption_key": with_key}).to_string();
        let r = self
            .call(Request::new("POST", "/register").with_body(body))
            .ok(201);
        Project {
            api_key: r["api_key"].as_str().expect("api_key").to_owned(),
            api_secret: r["api_secret"].as_str().expect("secret").to_owned(),
            part: r["encryption_part"].as_str().map(str::to_owned),
            id: r["id"].as_str().expect("id").to_owned(),
        }
    }

    /// A project (with an encryption key if `with_key`) with a CUSTOM PEM (RS256) provider; its
    /// signer makes the users' tokens.
    pub fn pem_project(&self, with_key: bool) -> (Project, TestSigner) {
        let p = self.register(with_key);
        let signer = TestSigner::new(Algorithm::RS256, "k1");
        self.pem_provider(&p, &signer);
        (p, signer)
    }

    /// Makes `signer`'s public key `p`'s CUSTOM PEM provider.
    pub fn pem_provider(&self, p: &Project, signer: &TestSigner) {
        let custom = json!({"pem": signer.public_pem(), "key_type": "rsa"});
        self.ps(
            p,
            "POST",
            "/project/providers",
            Some(json!({"providers": {"custom": custom}})),
        )
        .ok(200);
    }

    pub fn ps(&self, p: &Project, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = Request::new(method, path)
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-API-Secret", &p.api_secret);
        if let Some(b) = body {
            req = req.with_body(b.to_string());
        }
        self.call(req)
    }

    /// A user request with a CUSTOM PEM provider token.
    pub fn user(&self, p: &Project, token: &str, method: &str, path: &str) -> Request {
        Request::new(method, path)
            .with_header("X-API-Key", &p.api_key)
            .with_header("X-Auth-Provider", "custom")
            .with_header("Authorization", format!("Bearer {token}"))
    }
}
