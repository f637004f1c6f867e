//! Signing-policy documents as a maintainer uploads them: a document that parses must print to
//! JSON that parses to the same policy.
#![no_main]

use guardian_core::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(policy) = Policy::parse(&doc) {
        let printed = policy.to_json();
        let again = Policy::parse(&printed).map(|p| p.to_json());
        assert!(
            again.as_ref().is_ok_and(|p| *p == printed),
            "a policy must round-trip: {printed} -> {again:?}"
        );
    }
});
