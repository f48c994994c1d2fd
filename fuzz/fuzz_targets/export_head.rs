//! Arbitrary bytes to the head-weights reader and, when they parse, the
//! exporter: whatever widths and values a file holds, it exports or
//! refuses, and what it exports loads in the viewer and answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::export::{export_component, ExportOptions};
use meltr::head::HeadWeights;
use meltr::viewer::{Limits, SandboxedHead};

fuzz_target!(|data: &[u8]| {
    let Ok(w) = HeadWeights::from_bytes(data, "fuzz".as_ref()) else {
        return;
    };
    if let Ok(bytes) = export_component(&w, &ExportOptions::default()) {
        let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "exported")
            .expect("an exported head loads");
        head.evaluate(&vec![1.0; w.num_tasks])
            .expect("an exported head answers");
    }
});
