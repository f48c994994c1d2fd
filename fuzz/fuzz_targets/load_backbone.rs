//! Arbitrary bytes to the backbone-file reader: an error or a backbone of
//! a registered kind, never a panic or an allocation the file did not ask
//! for within the kinds' size limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = meltr::backbone::backbone_from_bytes(data, "fuzz".as_ref());
});
