//! An answer of the HIS front-end processor as it arrives, decoded for each operation
//! exactly as the connector does after a call. Never a panic, however hostile the
//! numbers (overflowing sums, inconsistent states, unknown codes).
#![no_main]
use gateways::his::{OPERATIONS, decode_answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else { return };
    let op = OPERATIONS[selector as usize % OPERATIONS.len()];
    let _ = decode_answer(op, body);
});
