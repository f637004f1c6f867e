//! The sandbox: the wasmtime engine and its epoch ticker (`engine`), compiled components and their
//! cache (`compile_cache`), per-request state (`instance`) and the host-wide guest memory budget
//! (`memory_budget`).

pub mod compile_cache;
pub mod engine;
pub mod instance;
pub mod memory_budget;
