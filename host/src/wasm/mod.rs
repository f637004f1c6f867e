//! The sandbox: the wasmtime engine and its epoch ticker (`engine`), compiled components and their
//! cache (`compile_cache`), per-request state (`instance`), the host-wide guest memory budget
//! (`memory_budget`) and the bounded forwarding of a guest's stdout and stderr (`guest_output`).

pub mod compile_cache;
pub mod engine;
pub mod guest_output;
pub mod instance;
pub mod memory_budget;
