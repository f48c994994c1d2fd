//! The host bounds what it copies out of a guest: an artifact whose task
//! names or metadata strings are huge (or a name list that repeats one huge
//! string a million times), or whose weight list is huge, is refused with
//! one line, and the host's peak memory stays under the guest's memory cap
//! plus 32 MiB.
//!
//! One test in its own binary, so that the process's peak resident size
//! (`VmHWM`) is this test's alone.
#![cfg(feature = "viewer")]

use meltr::export::wrap_component;
use meltr::viewer::{Limits, SandboxedHead, MAX_STRING_BYTES};
use std::fmt::Write;

const CAP: usize = 64 << 20;
/// Bytes of zeros at address 65536: the "huge string".
const HUGE: u32 = 60 << 20;

/// A core module honouring `wit/head.wit`'s ABI for K = 2 whose
/// `task-names` returns `n` entries, each (ptr, len) = `name`, whose
/// metadata's exporter string is `exporter` (ptr, len), and whose `weights`
/// and `evaluate` return `weights` zeros.
fn artifact(n: u32, name: (u32, u32), exporter: (u32, u32), weights: u32) -> Vec<u8> {
    // metadata at 1024: format string at 2048 ("meltr-head/1"), widths, K = 2
    let mut meta = vec![0u8; 80];
    let put = |m: &mut Vec<u8>, at: usize, v: u32| m[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut meta, 0, 2048);
    put(&mut meta, 4, 12);
    for (i, v) in [128u32, 128, 128, 8, 2].into_iter().enumerate() {
        put(&mut meta, 20 + 4 * i, v);
    }
    put(&mut meta, 72, exporter.0);
    put(&mut meta, 76, exporter.1);
    let mut hex = String::new();
    for b in meta {
        write!(hex, "\\{b:02x}").unwrap();
    }
    let text = format!(
        r#"(module
  (memory (export "memory") 1000)
  (data (i32.const 1024) "{hex}")
  (data (i32.const 2048) "meltr-head/1")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096))
  (func (export "metadata") (result i32) (i32.const 1024))
  ;; the list [ptr, len] at 3072, its entries from 8192 on
  (func (export "task-names") (result i32)
    (local $i i32)
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
      (i32.store (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 3))) (i32.const {np}))
      (i32.store offset=4 (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 3))) (i32.const {nl}))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))
    (i32.store (i32.const 3072) (i32.const 8192))
    (i32.store (i32.const 3076) (i32.const {n}))
    (i32.const 3072))
  (func (export "eval") (param i32 i32) (result i32) unreachable)
  ;; ok(list) / ok({{value, list}}) from a return area at 16
  (func (export "weights") (param i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 65536))
    (i32.store (i32.const 24) (i32.const {weights}))
    (i32.const 16))
  (func (export "evaluate") (param i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (f32.store (i32.const 20) (f32.const 1))
    (i32.store (i32.const 24) (i32.const 65536))
    (i32.store (i32.const 28) (i32.const {weights}))
    (i32.const 16)))"#,
        np = name.0,
        nl = name.1,
    );
    wrap_component(wat::parse_str(&text).unwrap()).unwrap()
}

fn peak_mib() -> f64 {
    meltr::train::peak_rss_mib()
}

#[test]
fn huge_guest_strings_are_refused_within_a_memory_bound() {
    let limits = Limits {
        fuel_per_call: 2_000_000_000,
        memory_bytes: CAP,
        max_file_bytes: 16 << 20,
    };
    let load = |bytes: &[u8]| SandboxedHead::from_bytes(bytes, &limits, "hostile.wasm");
    let exporter = (2048, 12);
    // the hand-written module itself loads (names are "meltr-head/1" twice)
    let mut h = load(&artifact(2, (2048, 12), exporter, 2)).unwrap();
    assert_eq!(h.task_names(), ["meltr-head/1", "meltr-head/1"]);
    assert_eq!(h.weights(&[1.0, 2.0]).unwrap(), [0.0, 0.0]);
    assert_eq!(h.evaluate(&[1.0, 2.0]).unwrap().value, 1.0);
    drop(h);
    let before = peak_mib();
    let cases = [
        // a million names, each the 60 MiB string: copying them all would take 60 TiB
        (
            artifact(1 << 20, (65536, HUGE), exporter, 2),
            "1048576 task names for 2 tasks",
        ),
        // the right count, each name 60 MiB
        (
            artifact(2, (65536, HUGE), exporter, 2),
            "task name #0 is 62914560 bytes, over the 256-byte limit",
        ),
        // a 60 MiB exporter string
        (
            artifact(2, (2048, 12), (65536, HUGE), 2),
            "metadata `exporter` is 62914560 bytes, over the 256-byte limit",
        ),
    ];
    for (bytes, want) in &cases {
        let e = load(bytes).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, meltr::Error::BadArtifact { .. }), "{e:?}");
        assert!(s.contains(want) && !s.contains('\n'), "{s}");
    }
    // 60 MiB of weights (15728640 floats) for K = 2: refused before copying
    let mut h = load(&artifact(2, (2048, 12), exporter, HUGE / 4)).unwrap();
    for e in [
        h.weights(&[1.0, 2.0]).unwrap_err(),
        h.evaluate(&[1.0, 2.0]).unwrap_err(),
    ] {
        let s = e.to_string();
        assert!(matches!(e, meltr::Error::ArtifactTrap { .. }), "{e:?}");
        assert!(s.contains("returned 15728640 weights for 2 tasks"), "{s}");
    }
    drop(h);
    // a name at the limit is still read
    let at_limit = artifact(2, (65536, MAX_STRING_BYTES as u32), exporter, 2);
    assert_eq!(
        load(&at_limit).unwrap().task_names()[1].len(),
        MAX_STRING_BYTES
    );
    let after = peak_mib();
    let bound = (CAP >> 20) as f64 + 32.0;
    eprintln!("peak resident size {before:.0} MiB -> {after:.0} MiB (bound: +{bound} MiB)");
    assert!(
        after - before <= bound,
        "peak grew by {:.0} MiB, over the guest cap plus 32 MiB",
        after - before
    );
}
