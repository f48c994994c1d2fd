//! Arbitrary bytes to the digits loader: gzip-compressed CSV, and plain
//! CSV text when the bytes are UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meltr::domains::digits::Digits;

fuzz_target!(|data: &[u8]| {
    let path = "digits.csv.gz".as_ref();
    let _ = Digits::from_csv_gz(data, path);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Digits::from_csv(text, path);
    }
});
