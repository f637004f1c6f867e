//! The shield scenarios of the test kit, run natively: the service crate in-process for the
//! component `spin.toml` routes each path to, with a real SQLite file and a fake clock
//! (keyward-e2e runs the same ones over HTTP).

use guest_kit::{Request, Rows, Value as Sql};
use jwt_verify::test_signer::{hs256_token, public_pem_of, sign_as};
use keyward_test_kit::scenarios::shield::{self as scenarios, Keys};
use keyward_test_kit::{Driver, NativeDriver, Reply, RouteTable};

/// The native driver with a clock that moves one millisecond before each request, as a real
/// one moves between requests: shares, listed oldest first, get distinct creation times.
struct Ticking(NativeDriver);

impl Driver for Ticking {
    fn send(&self, req: Request) -> Reply {
        self.0.now_ms.set(self.0.now_ms.get() + 1);
        // shield leaves the Date header to the host, which NativeDriver::send insists on: routed
        // paths go to their component here (the others get NativeDriver's 404).
        match RouteTable::product().route(req.path()) {
            Some(component) => {
                let req = req.with_header("spin-client-addr", &self.0.peer);
                self.0.invoke(component, req).into()
            }
            None => self.0.send(req),
        }
    }
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
    fn sql(&self, label: &str, sql: &str, params: &[Sql]) -> Rows {
        self.0.sql(label, sql, params)
    }
    fn at_rest(&self, label: &str) -> Vec<u8> {
        self.0.at_rest(label)
    }
}

fn driver() -> Box<Ticking> {
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: hs256_token,
    });
    Box::new(Ticking(NativeDriver::new(
        scenarios::DB,
        scenarios::SETTINGS,
    )))
}

keyward_test_kit::shield_scenario_tests!(driver());
