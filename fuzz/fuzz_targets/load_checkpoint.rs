//! Arbitrary bytes to the training-checkpoint reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::train::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = Checkpoint::from_bytes(data, "fuzz".as_ref());
});
