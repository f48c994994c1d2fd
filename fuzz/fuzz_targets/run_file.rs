//! Arbitrary text to both run-file readers (fine-tuning and pretraining),
//! with every built-in task registered as in the `meltr` binary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::train::pretrain::PretrainRun;
use meltr::train::TrainConfig;
use std::path::Path;
// Linked for their task registrations.
use meltr_align as _;
use meltr_classify as _;
use meltr_cmfm as _;
use meltr_cmlm as _;
use meltr_masked_pixels as _;
use meltr_mixup as _;
use meltr_rotation as _;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("run.toml");
    if let Ok(c) = TrainConfig::from_toml(text, path) {
        // What `--resume` compares: a parsed file must print and re-parse.
        let again = TrainConfig::from_toml(&c.to_toml(), path).expect("printed run file parses");
        assert_eq!(again.to_toml(), c.to_toml());
        // Parsing is plain data; the combinator and strategy are built after.
        let _ = c.build();
    }
    let _ = PretrainRun::from_toml(text, path);
});
