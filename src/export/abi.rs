//! The canonical-ABI surface of the core module: the exported functions of
//! `wit/head.wit` as the component model lowers them, `cabi_realloc`, and
//! the static data (metadata record, task names) that two of them return.
//!
//! Lowered signatures (world-level exports keep their WIT names):
//!
//! | WIT                                   | core                    |
//! |---------------------------------------|-------------------------|
//! | `eval(list<f32>) -> result<f32, e>`   | `(i32 ptr, i32 len) -> i32` (return area) |
//! | `weights(list<f32>) -> result<list<f32>, e>` | same             |
//! | `evaluate(list<f32>) -> result<evaluation, e>` | same           |
//! | `task-names() -> list<string>`        | `() -> i32` (points at `[ptr, len]`) |
//! | `metadata() -> metadata`              | `() -> i32` (points at the record) |
//!
//! Return area of the three `result`s (16 bytes, align 4): `u8` case at 0
//! (0 ok, 1 err), payload at 4. `ok`: `f32` / list `[ptr, len]` /
//! evaluation `{f32, ptr, len}`. `err` (`input-error`): `u8` case at 4
//! (0 wrong-length, 1 non-finite), then `expected, found` or `index` at 8.
//!
//! Memory handed out by `cabi_realloc` (only the argument list) comes from
//! a bump heap that every exported function resets before returning; the
//! lists it returns live in fixed buffers, valid until the next call.

use super::layout::Bump;
use crate::head::HeadWeights;
use std::fmt::Write;

/// Where [`static_data`] put things (absolute addresses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StaticData {
    /// The `metadata` record (80 bytes, align 8).
    pub meta: u32,
    /// The `[ptr, len]` pair returned by `task-names`.
    pub names: u32,
}

/// Size of the canonical-ABI `metadata` record: see `wit/head.wit`.
const META_SIZE: u32 = 80;

/// Builds the static data placed at `base`: the metadata record, the task
/// names list and the strings they point to.
pub(crate) fn static_data(w: &HeadWeights, base: u32, exporter: &str) -> (Vec<u8>, StaticData) {
    let k = w.num_tasks;
    let mut b = Bump(base);
    let meta = b.take(META_SIZE, 8);
    let names = b.take(8, 4);
    let array = b.take(8 * k as u32, 4);
    let mut bytes = vec![0u8; (b.0 - base) as usize];
    let put = |bytes: &mut Vec<u8>, at: u32, v: &[u8]| {
        let i = (at - base) as usize;
        bytes[i..i + v.len()].copy_from_slice(v);
    };
    // Strings go at the end; returns (ptr, len).
    let string = |bytes: &mut Vec<u8>, s: &str| -> (u32, u32) {
        let ptr = base + bytes.len() as u32;
        bytes.extend_from_slice(s.as_bytes());
        (ptr, s.len() as u32)
    };
    let pair = |p: (u32, u32)| [p.0.to_le_bytes(), p.1.to_le_bytes()].concat();
    let task_names = w.info.names_or_default(k);
    for (i, n) in task_names.iter().enumerate() {
        let p = string(&mut bytes, n);
        put(&mut bytes, array + 8 * i as u32, &pair(p));
    }
    put(&mut bytes, names, &pair((array, k as u32)));
    let format = string(&mut bytes, "meltr-head/1");
    put(&mut bytes, meta, &pair(format));
    if let Some(p) = w.preset() {
        let s = string(&mut bytes, p.name());
        put(&mut bytes, meta + 8, &[1]);
        put(&mut bytes, meta + 12, &pair(s));
    }
    let dims = w.dims;
    for (i, v) in [dims.h1, dims.d, dims.f, dims.heads, k]
        .into_iter()
        .enumerate()
    {
        put(
            &mut bytes,
            meta + 20 + 4 * i as u32,
            &(v as u32).to_le_bytes(),
        );
    }
    if let Some(p) = w.info.primary {
        put(&mut bytes, meta + 40, &[1]);
        put(&mut bytes, meta + 44, &(p as u32).to_le_bytes());
    }
    put(&mut bytes, meta + 48, &w.info.steps.to_le_bytes());
    if let Some(s) = w.info.seed {
        put(&mut bytes, meta + 56, &[1]);
        put(&mut bytes, meta + 64, &s.to_le_bytes());
    }
    let ex = string(&mut bytes, exporter);
    put(&mut bytes, meta + 72, &pair(ex));
    (bytes, StaticData { meta, names })
}

/// Emits the exported functions, `cabi_realloc` and the input check.
///
/// `ret` is the 16-byte return area, `loss` the K-float input buffer,
/// `g_loss` the K-float gradient buffer, `heap_base` the bump heap start.
pub(crate) fn exports(
    k: usize,
    ret: u32,
    loss: u32,
    g_loss: u32,
    heap_base: u32,
    st: StaticData,
) -> String {
    let mut s = String::new();
    write!(
        s,
        r#"(global $heap (mut i32) (i32.const {heap_base}))
(func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
  (local $p i32) (local $end i64) (local $have i64)
  (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                         (i32.sub (i32.const 0) (local.get $align))))
  (local.set $end (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $size))))
  (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
  (if (i64.gt_u (local.get $end) (local.get $have))
    (then
      (if (i32.eq (memory.grow (i32.wrap_i64 (i64.shr_u (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535)) (i64.const 16))))
                  (i32.const -1))
        (then unreachable))))
  (if (i32.and (i32.ne (local.get $old) (i32.const 0)) (i32.ne (local.get $old_size) (i32.const 0)))
    (then (memory.copy (local.get $p) (local.get $old)
      (select (local.get $old_size) (local.get $size) (i32.lt_u (local.get $old_size) (local.get $size))))))
  (global.set $heap (i32.wrap_i64 (local.get $end)))
  (local.get $p))
;; Checks the argument list and copies it to the input buffer. On a bad
;; input writes `err(input-error)` to the return area and returns 0.
(func $check (param $ptr i32) (param $len i32) (result i32)
  (local $i i32) (local $v f32)
  (if (i32.ne (local.get $len) (i32.const {k}))
    (then
      (i32.store8 (i32.const {ret}) (i32.const 1))
      (i32.store8 offset=4 (i32.const {ret}) (i32.const 0))
      (i32.store offset=8 (i32.const {ret}) (i32.const {k}))
      (i32.store offset=12 (i32.const {ret}) (local.get $len))
      (return (i32.const 0))))
  (loop $each
    (local.set $v (f32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2)))))
    ;; NaN fails `<`, and so does |inf|
    (if (i32.eqz (f32.lt (f32.abs (local.get $v)) (f32.const inf)))
      (then
        (i32.store8 (i32.const {ret}) (i32.const 1))
        (i32.store8 offset=4 (i32.const {ret}) (i32.const 1))
        (i32.store offset=8 (i32.const {ret}) (local.get $i))
        (return (i32.const 0))))
    (f32.store offset={loss} (i32.shl (local.get $i) (i32.const 2)) (local.get $v))
    (br_if $each (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const {k}))))
  (i32.const 1))
(func (export "eval") (param $ptr i32) (param $len i32) (result i32)
  (if (call $check (local.get $ptr) (local.get $len))
    (then
      (f32.store offset=4 (i32.const {ret}) (call $forward))
      (i32.store8 (i32.const {ret}) (i32.const 0))))
  (global.set $heap (i32.const {heap_base}))
  (i32.const {ret}))
(func (export "weights") (param $ptr i32) (param $len i32) (result i32)
  (if (call $check (local.get $ptr) (local.get $len))
    (then
      (drop (call $forward))
      (call $backward)
      (i32.store8 (i32.const {ret}) (i32.const 0))
      (i32.store offset=4 (i32.const {ret}) (i32.const {g_loss}))
      (i32.store offset=8 (i32.const {ret}) (i32.const {k}))))
  (global.set $heap (i32.const {heap_base}))
  (i32.const {ret}))
(func (export "evaluate") (param $ptr i32) (param $len i32) (result i32)
  (if (call $check (local.get $ptr) (local.get $len))
    (then
      (f32.store offset=4 (i32.const {ret}) (call $forward))
      (call $backward)
      (i32.store8 (i32.const {ret}) (i32.const 0))
      (i32.store offset=8 (i32.const {ret}) (i32.const {g_loss}))
      (i32.store offset=12 (i32.const {ret}) (i32.const {k}))))
  (global.set $heap (i32.const {heap_base}))
  (i32.const {ret}))
(func (export "task-names") (result i32) (i32.const {names}))
(func (export "metadata") (result i32) (i32.const {meta}))
"#,
        names = st.names,
        meta = st.meta,
    )
    .unwrap();
    s
}
