//! Scenarios written once, run by the native driver and over HTTP.

#[cfg(feature = "keyservice")]
pub mod keyservice;
