//! Scenarios written once, run by the native driver and over HTTP.

#[cfg(feature = "keyservice")]
pub mod keyservice;

// Speak only to a `Driver`, so they need no service crate (and no feature).
pub mod guardian;
pub mod shield;

/// One `#[test]` per scenario: `scenario_tests!(keyservice, driver(); whole_flow, …)`, where
/// `driver()` gives something that derefs to a `Driver` (each test gets its own, or a shared one).
#[macro_export]
macro_rules! scenario_tests {
    ($service:ident, $driver:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let driver = $driver;
                $crate::scenarios::$service::$name(&*driver);
            }
        )+
    };
}
