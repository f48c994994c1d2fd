//! Hostile artifacts: each is refused at load, or stopped within its
//! limits, with a one-line error naming the problem; never a panic or a hang.
#![cfg(feature = "viewer")]

use meltr::export::{export_component, wrap_component, ExportOptions};
use meltr::head::{init_weights, Preset};
use meltr::viewer::{Limits, SandboxedHead};
use meltr::Error;
use std::fmt::Write;
use std::time::{Duration, Instant};

fn limits() -> Limits {
    Limits {
        fuel_per_call: 20_000_000,
        memory_bytes: 64 << 20,
        max_file_bytes: 16 << 20,
    }
}

fn load(bytes: &[u8]) -> meltr::Result<SandboxedHead> {
    SandboxedHead::from_bytes(bytes, &limits(), "hostile.wasm")
}

fn refusal(bytes: &[u8]) -> String {
    let e = load(bytes).unwrap_err();
    assert!(matches!(e, Error::BadArtifact { .. }), "{e:?}");
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

/// A core module honouring the canonical ABI of `wit/head.wit` for `k`
/// tasks, with `eval`'s body replaced by `eval_body` (it must leave an i32,
/// the return area) and `extra` spliced in (functions, memory growth...).
fn fake_module(k: usize, pages: u32, eval_body: &str, extra: &str) -> Vec<u8> {
    // static data at 1024: metadata (80 bytes), names [ptr,len], name array, strings
    let base = 1024u32;
    let mut d = vec![0u8; 80 + 8 + 8 * k];
    let mut strings = Vec::new();
    let string = |s: &str, strings: &mut Vec<u8>| -> (u32, u32) {
        let p = base + d_len(k) + strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        (p, s.len() as u32)
    };
    fn d_len(k: usize) -> u32 {
        (80 + 8 + 8 * k) as u32
    }
    let put = |d: &mut Vec<u8>, at: usize, v: &[u8]| d[at..at + v.len()].copy_from_slice(v);
    let (fp, fl) = string("meltr-head/1", &mut strings);
    put(&mut d, 0, &[fp.to_le_bytes(), fl.to_le_bytes()].concat());
    for (i, v) in [128u32, 128, 128, 8, k as u32].iter().enumerate() {
        put(&mut d, 20 + 4 * i, &v.to_le_bytes());
    }
    let (ep, el) = string("hand-written", &mut strings);
    put(&mut d, 72, &[ep.to_le_bytes(), el.to_le_bytes()].concat());
    put(
        &mut d,
        80,
        &[(base + 88).to_le_bytes(), (k as u32).to_le_bytes()].concat(),
    );
    for t in 0..k {
        let (p, l) = string(&format!("t{t}"), &mut strings);
        put(
            &mut d,
            88 + 8 * t,
            &[p.to_le_bytes(), l.to_le_bytes()].concat(),
        );
    }
    d.extend(strings);
    let mut data = String::new();
    for b in d {
        write!(data, "\\{b:02x}").unwrap();
    }
    let text = format!(
        r#"(module
  (memory (export "memory") {pages})
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const {base}) "{data}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 3)))
    (local.get $p))
  (func (export "metadata") (result i32) (i32.const {base}))
  (func (export "task-names") (result i32) (i32.const {names}))
  (func (export "eval") (param $ptr i32) (param $len i32) (result i32) {eval_body})
  (func (export "weights") (param i32 i32) (result i32) unreachable)
  (func (export "evaluate") (param i32 i32) (result i32) unreachable)
  {extra})"#,
        names = base + 80
    );
    wrap_component(wat::parse_str(&text).unwrap()).unwrap()
}

/// `eval` returning `ok(1.5)` from a return area at 16.
const EVAL_OK: &str = "(f32.store (i32.const 20) (f32.const 1.5)) (i32.store8 (i32.const 16) (i32.const 0)) (i32.const 16)";

#[test]
fn the_hand_written_module_itself_loads_and_runs() {
    let mut h = load(&fake_module(2, 1, EVAL_OK, "")).unwrap();
    assert_eq!(h.task_names(), ["t0", "t1"]);
    assert_eq!(h.metadata().exporter, "hand-written");
    assert_eq!(h.eval(&[1.0, 2.0]).unwrap(), 1.5);
}

#[test]
fn not_wasm_is_refused() {
    let s = refusal(b"this is a text file, not an artifact");
    assert!(
        s.contains("hostile.wasm") && s.contains("not a WebAssembly file"),
        "{s}"
    );
    let s = refusal(&[]);
    assert!(s.contains("not a WebAssembly file"), "{s}");
    // a wasm header followed by garbage
    let s = refusal(b"\0asm\x0d\0\x01\0garbage-garbage");
    assert!(s.contains("refused"), "{s}");
}

#[test]
fn a_core_module_is_refused() {
    let s = refusal(&wat::parse_str("(module)").unwrap());
    assert!(
        s.contains("core WebAssembly module, expected a component"),
        "{s}"
    );
}

#[test]
fn a_component_that_imports_anything_is_refused() {
    let c = wat::parse_str(
        r#"(component (import "read-file" (func (param "path" string) (result string))))"#,
    )
    .unwrap();
    let s = refusal(&c);
    assert!(s.contains("imports `read-file`"), "{s}");
    let c =
        wat::parse_str(r#"(component (import "wasi:filesystem/types@0.2.0" (instance)))"#).unwrap();
    let s = refusal(&c);
    assert!(s.contains("imports `wasi:filesystem/types@0.2.0`"), "{s}");
}

#[test]
fn mismatched_exports_are_refused() {
    let s = refusal(&wat::parse_str("(component)").unwrap());
    assert!(s.contains("does not implement `meltr:head/head`"), "{s}");
    let wrong_type = r#"(component
      (core module $m (func (export "f") (result i32) i32.const 0))
      (core instance $i (instantiate $m))
      (func (export "eval") (result u32) (canon lift (core func $i "f"))))"#;
    let s = refusal(&wat::parse_str(wrong_type).unwrap());
    assert!(s.contains("does not implement `meltr:head/head`"), "{s}");
}

#[test]
fn an_endless_loop_runs_out_of_fuel_quickly_and_the_head_stays_usable() {
    let spin = "(loop $spin (br $spin)) (i32.const 16)";
    let mut h = load(&fake_module(2, 1, spin, "")).unwrap();
    let t = Instant::now();
    let e = h.eval(&[1.0, 2.0]).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(
            e,
            Error::OutOfFuel {
                fuel: 20_000_000,
                ..
            }
        ),
        "{e:?}"
    );
    let s = e.to_string();
    assert!(
        s.contains("`eval` ran out of fuel") && !s.contains('\n'),
        "{s}"
    );
    // the instance was replaced: metadata still readable, next call also stopped
    assert_eq!(h.task_names().len(), 2);
    assert!(matches!(h.eval(&[1.0, 2.0]), Err(Error::OutOfFuel { .. })));
}

#[test]
fn a_trap_is_reported_and_a_fresh_instance_serves_the_next_call() {
    let mut h = load(&fake_module(2, 1, EVAL_OK, "")).unwrap();
    let e = h.weights(&[1.0, 2.0]).unwrap_err();
    assert!(matches!(e, Error::ArtifactTrap { .. }), "{e:?}");
    assert!(e.to_string().contains("`weights` failed"), "{e}");
    assert_eq!(h.eval(&[1.0, 2.0]).unwrap(), 1.5);
}

#[test]
fn more_memory_than_the_cap_is_refused_at_instantiation() {
    // 2048 pages = 128 MiB > the 64 MiB cap
    let s = refusal(&fake_module(2, 2048, EVAL_OK, ""));
    assert!(
        s.contains("cannot be instantiated within the limits"),
        "{s}"
    );
}

#[test]
fn growing_past_the_cap_fails_inside_the_limits() {
    // eval grows memory until memory.grow fails, then traps
    let grow =
        "(loop $g (br_if $g (i32.ne (memory.grow (i32.const 256)) (i32.const -1)))) unreachable";
    let mut h = load(&fake_module(2, 1, grow, "")).unwrap();
    let e = h.eval(&[1.0, 2.0]).unwrap_err();
    assert!(matches!(e, Error::ArtifactTrap { .. }), "{e:?}");
}

#[test]
fn an_oversized_file_is_refused_before_parsing() {
    let big = vec![0u8; (16 << 20) + 1];
    let s = refusal(&big);
    assert!(s.contains("over the 16777216-byte limit"), "{s}");
}

#[test]
fn wrong_inputs_are_refused_with_the_contract_errors() {
    let w = init_weights(Preset::Allinone.dims(), 3, 2).unwrap();
    let mut h = load(&export_component(&w, &ExportOptions::default()).unwrap()).unwrap();
    let e = h.eval(&[1.0, 2.0]).unwrap_err();
    assert_eq!(e.to_string(), "losses: expected 3 values, found 2");
    let e = h.evaluate(&[1.0, f32::NAN, 2.0]).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 1, .. }), "{e:?}");
    assert!(h.eval(&[1.0, 2.0, 3.0]).unwrap().is_finite());
}

#[test]
fn the_artifact_itself_enforces_the_input_contract() {
    use meltr::viewer::InputError;
    let w = init_weights(Preset::Allinone.dims(), 3, 2).unwrap();
    let mut h = load(&export_component(&w, &ExportOptions::default()).unwrap()).unwrap();
    match h.eval_unchecked(&[1.0; 5]).unwrap() {
        Err(InputError::WrongLength(m)) => assert_eq!((m.expected, m.found), (3, 5)),
        other => panic!("{other:?}"),
    }
    match h.eval_unchecked(&[]).unwrap() {
        Err(InputError::WrongLength(m)) => assert_eq!((m.expected, m.found), (3, 0)),
        other => panic!("{other:?}"),
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        match h.eval_unchecked(&[1.0, 2.0, bad]).unwrap() {
            Err(InputError::NonFinite(i)) => assert_eq!(i, 2),
            other => panic!("{other:?}"),
        }
    }
    // a long list is refused too, and the bump heap is reset after each call
    for _ in 0..200 {
        assert!(matches!(
            h.eval_unchecked(&vec![1.0; 10_000]).unwrap(),
            Err(InputError::WrongLength(_))
        ));
    }
    let ok = h.eval_unchecked(&[1.0, 2.0, 3.0]).unwrap().unwrap();
    assert_eq!(ok, h.eval(&[1.0, 2.0, 3.0]).unwrap());
}

#[test]
fn metadata_round_trips_through_the_artifact() {
    let mut w = init_weights(Preset::Univl.dims(), 4, 9).unwrap();
    w.info = meltr::head::HeadInfo {
        task_names: vec![
            "retrieval".into(),
            "cmlm".into(),
            "cmfm".into(),
            "align".into(),
        ],
        primary: Some(0),
        steps: 1234,
        seed: Some(u64::MAX - 1),
    };
    let h = load(&export_component(&w, &ExportOptions::default()).unwrap()).unwrap();
    let m = h.metadata();
    assert_eq!(m.format, "meltr-head/1");
    assert_eq!(m.preset.as_deref(), Some("univl"));
    assert_eq!(
        (m.h1, m.d, m.f, m.heads, m.num_tasks),
        (128, 256, 512, 8, 4)
    );
    assert_eq!(
        (m.primary, m.steps, m.seed),
        (Some(0), 1234, Some(u64::MAX - 1))
    );
    assert!(m.exporter.starts_with("meltr "));
    assert_eq!(h.task_names(), ["retrieval", "cmlm", "cmfm", "align"]);
}

#[test]
fn exhausting_the_stack_is_stopped_with_one_line_and_the_head_stays_usable() {
    // eval recurses without end: the 512 KiB wasm stack runs out long before the fuel
    let deep = "(call $deep (i32.const 0))";
    let rec =
        "(func $deep (param i32) (result i32) (call $deep (i32.add (local.get 0) (i32.const 1))))";
    let mut h = load(&fake_module(2, 1, deep, rec)).unwrap();
    let e = h.eval(&[1.0, 2.0]).unwrap_err();
    assert!(matches!(e, Error::ArtifactTrap { .. }), "{e:?}");
    let s = e.to_string();
    assert!(
        s.contains("`eval` failed") && s.contains("stack") && !s.contains('\n'),
        "{s}"
    );
    // a fresh instance serves the next call
    assert_eq!(h.task_names().len(), 2);
}

#[test]
fn more_tables_than_the_limit_are_refused_at_instantiation() {
    // the sandbox allows 4 tables per store
    let tables =
        "(table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref)";
    let s = refusal(&fake_module(2, 1, EVAL_OK, tables));
    assert!(
        s.contains("cannot be instantiated within the limits"),
        "{s}"
    );
}

#[test]
fn more_instances_than_the_limit_are_refused_at_instantiation() {
    // The sandbox allows 8 core instances per store: append an empty core
    // module and 9 instances of it to an otherwise valid artifact.
    let mut bytes = fake_module(2, 1, EVAL_OK, "");
    let modules = wasmparser::Parser::new(0)
        .parse_all(&bytes)
        .filter(|p| matches!(p, Ok(wasmparser::Payload::ModuleSection { .. })))
        .count() as u32;
    use wasm_encoder::ComponentSection;
    wasm_encoder::ModuleSection(&wasm_encoder::Module::new()).append_to_component(&mut bytes);
    let mut instances = wasm_encoder::InstanceSection::new();
    for _ in 0..9 {
        instances.instantiate(modules, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    instances.append_to_component(&mut bytes);
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&bytes)
        .expect("still a valid component");
    let s = refusal(&bytes);
    assert!(
        s.contains("cannot be instantiated within the limits") && s.contains("instance"),
        "{s}"
    );
}

#[test]
fn an_artifact_of_another_interface_version_is_refused_by_name() {
    let bytes = fake_module(2, 1, EVAL_OK, "");
    let at = bytes
        .windows(12)
        .position(|w| w == b"meltr-head/1")
        .expect("the format string is in the data segment");
    let mut other = bytes.clone();
    other[at + 11] = b'9';
    let s = refusal(&other);
    assert!(
        s.contains("hostile.wasm") && s.contains("`meltr-head/9`") && s.contains("meltr-head/1"),
        "{s}"
    );
}
