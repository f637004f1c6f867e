//! The scalar parsers under guardian's JSON: hex, 256-bit integers (decimal and hex), signed
//! integers, addresses (EIP-55) and mnemonics. A parsed number must print back to a value that
//! parses to itself.
#![no_main]

use guardian_core::{Address, Mnemonic, U256, hex, int};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = U256::from_be_slice(data);
        return;
    };
    let _ = hex::decode(text);
    let _ = hex::decode_fixed::<32>(text);
    let _ = int::parse_int_str(text, true);
    let _ = int::parse_int_str(text, false);
    let _ = Mnemonic::parse(text);
    if let Ok(address) = Address::parse(text) {
        let again = Address::parse(&address.to_string());
        assert!(
            again.is_ok_and(|a| a == address),
            "an address must round-trip"
        );
    }
    for parsed in [U256::from_dec_digits(text), U256::from_hex_digits(text)]
        .into_iter()
        .flatten()
    {
        let bytes = parsed.to_be_bytes();
        assert_eq!(
            U256::from_be_slice(&bytes),
            Some(parsed),
            "a u256 must round-trip"
        );
    }
});
