//! The exported artifact against an f64 evaluator written from the PyTorch
//! reference (tests/common): value and per-task weights, every preset.
#![cfg(feature = "viewer")]

use crate::export_support;

use export_support::*;
use meltr::export::{export_component, ExportOptions, Simd};
use meltr::head::{init_weights, Preset};
use meltr::viewer::{Limits, SandboxedHead};

fn check(preset: Preset, k: usize, simd: Simd, n: usize) -> (f64, f64) {
    let w = init_weights(preset.dims(), k, 11).unwrap();
    let bytes = export_component(&w, &ExportOptions { simd }).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "test").unwrap();
    let (mut ev, mut ew) = (0.0f64, 0.0f64);
    for l in random_losses(k, n, 5) {
        let e = head.evaluate(&l).unwrap();
        let (v, g) = reference_evaluation(&w, &l);
        let got: Vec<f64> = e.weights.iter().map(|&x| x as f64).collect();
        if rel(e.value as f64, v, 1e-2) > 3e-6 {
            eprintln!(
                "  f = {} ref {v} abs err {:.2e}",
                e.value,
                (e.value as f64 - v).abs()
            );
        }
        ev = ev.max(rel(e.value as f64, v, 1e-2));
        ew = ew.max(rel_vec(&got, &g, 1e-6));
        assert_eq!(head.eval(&l).unwrap(), e.value, "eval and evaluate agree");
        assert_eq!(head.weights(&l).unwrap(), e.weights);
    }
    eprintln!("{preset:?} K={k} {simd:?}: value rel {ev:.2e}, weights rel {ew:.2e}");
    (ev, ew)
}

#[test]
fn every_preset_matches_the_f64_reference() {
    for (p, k) in [
        (Preset::Allinone, 2),
        (Preset::Univl, 8),
        (Preset::Violet, 3),
        (Preset::Paper, 5),
    ] {
        let (ev, ew) = check(p, k, Simd::V128, 20);
        assert!(ev < 1e-5, "{p:?}: value {ev:e}");
        assert!(ew < 1e-4, "{p:?}: weights {ew:e}");
    }
}

#[test]
fn scalar_and_relaxed_code_agree_too() {
    for simd in [Simd::Scalar, Simd::RelaxedMadd] {
        let (ev, ew) = check(Preset::Allinone, 3, simd, 10);
        assert!(ev < 1e-5 && ew < 1e-4, "{simd:?}: {ev:e} {ew:e}");
    }
}

#[test]
fn odd_token_counts_use_every_block_path() {
    // K = 13: one block of 8 tokens and one of 5.
    let (ev, ew) = check(Preset::Allinone, 13, Simd::V128, 5);
    assert!(ev < 1e-5 && ew < 1e-4, "{ev:e} {ew:e}");
}
