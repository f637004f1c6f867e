//! keyservice's native harness: the test kit's `NativeDriver` (real SQLite file, in-memory
//! key-value store, variables, fake clock; a fresh connection per call, like a fresh component
//! instance) and the three parties' helpers from the kit's keyservice scenarios. `call` invokes
//! one component directly, with exactly the headers the test wrote.

#![allow(dead_code, unused_imports)]

use guest_kit::Request;
use guest_kit::RouteGroup;
use keyward_test_kit::NativeDriver;
pub use keyward_test_kit::Reply;
pub use keyward_test_kit::scenarios::keyservice::{self as ks, Session};
pub use keyward_test_kit::secrets::{ADMIN_TOKEN, MASTER_KEY, T0_MS};

/// The platform address the "host" reports for routed requests (inside the allow-lists the
/// tests create).
pub const PEER: &str = "203.0.113.10:40000";

pub struct Harness {
    pub driver: NativeDriver,
}

impl std::ops::Deref for Harness {
    type Target = NativeDriver;
    fn deref(&self) -> &NativeDriver {
        &self.driver
    }
}

impl Harness {
    pub fn new() -> Self {
        let mut driver =
            NativeDriver::new(ks::DB, &[("admin_token", ADMIN_TOKEN)]).requiring_header("date");
        driver.peer = PEER.to_owned();
        Harness { driver }
    }

    /// One request through one route group (`keyservice_service::KEY`, …), exactly as written.
    pub fn call(&self, group: RouteGroup, req: Request) -> Reply {
        let resp = self.driver.invoke_group(group, req);
        assert!(resp.header("date").is_some(), "every response carries Date");
        resp.into()
    }

    pub fn admin(&self, method: &str, path: &str, body: &str) -> Reply {
        ks::admin(&self.driver, method, path, body)
    }

    pub fn create_namespace(&self, namespace: &str, cidrs: &[&str]) -> String {
        ks::create_namespace(&self.driver, namespace, cidrs)
    }

    pub fn init(&self) -> String {
        ks::init(&self.driver)
    }

    pub fn connect(&self, namespace: &str, secret: &str, user_id: &str, hash: &str) -> Reply {
        ks::connect(&self.driver, namespace, secret, user_id, hash)
    }

    /// init + connect → a live session.
    pub fn session(&self, namespace: &str, secret: &str, user_id: &str) -> Session {
        ks::session(&self.driver, namespace, secret, user_id)
    }

    pub fn key_req(&self, s: &Session, method: &str, body: &[u8]) -> Request {
        ks::key_request(&self.driver, s, method, body)
    }

    pub fn key(&self, s: &Session, method: &str, body: &[u8]) -> Reply {
        ks::key(&self.driver, s, method, body, None)
    }
}
