//! Arbitrary bytes to the viewer's artifact loader: it must return an
//! error or a head, never panic, hang or allocate past the limits; a head
//! that loads then has every export called, with right and wrong inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::viewer::{Limits, SandboxedHead};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        fuel_per_call: 1_000_000,
        memory_bytes: 16 << 20,
        max_file_bytes: 1 << 20,
    };
    if let Ok(mut head) = SandboxedHead::from_bytes(data, &limits, "fuzz") {
        let k = head.num_tasks();
        let ones = vec![1.0; k];
        let _ = head.eval(&ones);
        let _ = head.weights(&ones);
        let _ = head.evaluate(&ones);
        let _ = head.eval_unchecked(&[]);
        let _ = head.eval_unchecked(&vec![f32::NAN; k + 1]);
    }
});
