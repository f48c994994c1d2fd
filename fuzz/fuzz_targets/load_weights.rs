//! Arbitrary bytes to the weights loader and, when they parse, the exporter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::export::{export_component, ExportOptions};
use meltr::head::HeadWeights;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = HeadWeights::from_bytes(data, "fuzz".as_ref()) {
        if w.num_params() < 1 << 20 {
            let _ = export_component(&w, &ExportOptions::default());
        }
    }
});
