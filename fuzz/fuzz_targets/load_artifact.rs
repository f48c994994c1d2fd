//! Arbitrary bytes to the artifact loader: it must return an error or a
//! head, never panic or hang; a loaded head is then called once.
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
        let _ = head.evaluate(&vec![1.0; k]);
    }
});
