//! Arbitrary arguments to every export of a real exported head (K = 3):
//! the first byte picks the call, the rest are the losses (little-endian
//! f32s, any length, NaN and infinities included). The guest must answer
//! or refuse with the contract's errors; a trap is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::export::{export_component, ExportOptions};
use meltr::head::{init_weights, Preset};
use meltr::viewer::{Limits, SandboxedHead};
use meltr::Error;
use std::sync::{Mutex, OnceLock};

fn head() -> &'static Mutex<SandboxedHead> {
    static HEAD: OnceLock<Mutex<SandboxedHead>> = OnceLock::new();
    HEAD.get_or_init(|| {
        let weights = init_weights(Preset::Allinone.dims(), 3, 0).expect("weights");
        let bytes = export_component(&weights, &ExportOptions::default()).expect("export");
        let head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "head.wasm");
        Mutex::new(head.expect("the exported head loads"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&call, rest)) = data.split_first() else {
        return;
    };
    let losses: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut head = head().lock().unwrap();
    let outcome = match call % 4 {
        0 => head.eval(&losses).map(drop),
        1 => head.weights(&losses).map(drop),
        2 => head.evaluate(&losses).map(drop),
        _ => head.eval_unchecked(&losses).map(drop),
    };
    if let Err(e @ (Error::ArtifactTrap { .. } | Error::OutOfFuel { .. })) = outcome {
        panic!("the exported head failed on {losses:?}: {e}");
    }
});
