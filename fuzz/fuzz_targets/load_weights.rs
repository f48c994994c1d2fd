//! Arbitrary bytes to the head-weights reader: an error or a head, never
//! a panic or an allocation the file's own size does not bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::head::HeadWeights;

fuzz_target!(|data: &[u8]| {
    let _ = HeadWeights::from_bytes(data, "fuzz".as_ref());
});
