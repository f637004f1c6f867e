//! The test kit's scenarios over HTTP: the real `spin.toml` and components served by
//! `keyward serve` on 127.0.0.1 (the service crates run the same scenarios natively).

keyward_test_kit::keyservice_scenario_tests!(keyward_e2e::keyservice::shared_scenario_host());
