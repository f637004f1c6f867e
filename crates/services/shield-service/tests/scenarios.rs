//! The shield scenarios of the test kit, run natively: the service crate in-process for the
//! component `spin.toml` routes each path to, with a real SQLite file and a fake clock
//! (keyward-e2e runs the same ones over HTTP).

use jwt_verify::test_signer::{hs256_token, public_pem_of, sign_as};
use keyward_test_kit::NativeDriver;
use keyward_test_kit::scenarios::shield::{self as scenarios, Keys};

/// A clock that moves one millisecond before each request, as a real one moves between
/// requests: shares, listed oldest first, get distinct creation times.
fn driver() -> Box<NativeDriver> {
    scenarios::install_keys(Keys {
        sign: sign_as,
        pem: public_pem_of,
        hs256: hs256_token,
    });
    Box::new(NativeDriver::new(scenarios::DB, scenarios::SETTINGS).ticking(1))
}

keyward_test_kit::shield_scenario_tests!(driver());
