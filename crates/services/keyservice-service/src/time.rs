//! RFC 3339 timestamps for the operator API (`2026-12-01T10:00:00Z`): the platform's one
//! formatter, which shield's answers use too.

pub use guest_kit::time::rfc3339;
