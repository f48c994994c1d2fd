//! Arbitrary text to the viewer's training-log reader (JSON lines); the
//! first byte picks K, the number of tasks the head has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::viewer::TrainingLog;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = TrainingLog::parse(text, 1 + k as usize % 16, "log.jsonl".as_ref());
    }
});
