//! Issue 6, item 4: the exported artifact's value and per-task weights equal
//! the native head's (`meltr::head::Meltr`, dfdx) on 10,000 random inputs,
//! for every preset.
//!
//! Relative error: value `|Δf| / max(|f|, 0.1)` (the output is a dot product
//! of d terms of either sign: near zero its round-off is absolute, and the
//! native head's own error there reaches ~6e-7 absolute — the artifact is
//! the closer of the two to an f64 evaluation, see tests/export_reference.rs);
//! weights `max_k |Δa_k| / max(max_k |a_k|, 0.01)` (same reason: the
//! reverse pass sums terms far larger than a tiny weight). Both must stay
//! below 1e-5.
//!
//! The one allowed exception: `∂f/∂l` jumps where a ReLU's pre-activation
//! crosses zero, and two correct f32 implementations may land on different
//! sides when it is within round-off of zero. An input whose weights differ
//! by more than 1e-5 must therefore have a ReLU within 1e-5 of its kink
//! (checked in f64), and such inputs must be rare (< 1 %).
#![cfg(feature = "viewer")]

use crate::export_support;

use export_support::{random_losses, rel, rel_vec, relu_margin};
use meltr::export::{export_component, ExportOptions};
use meltr::head::{init_weights, Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use meltr::viewer::{Limits, SandboxedHead};

const INPUTS: usize = 10_000;

fn agree(preset: Preset, k: usize) {
    let w = init_weights(preset.dims(), k, 21).unwrap();
    let native = Meltr::from_weights(w.clone()).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "agreement").unwrap();
    let (mut ev, mut ew, mut at_kinks) = (0.0f64, 0.0f64, 0usize);
    for l in random_losses(k, INPUTS, 99) {
        let a = head.evaluate(&l).unwrap();
        let b = native.eval(&l).unwrap();
        let aw: Vec<f64> = a.weights.iter().map(|&x| x as f64).collect();
        let bw: Vec<f64> = b.weights.iter().map(|&x| x as f64).collect();
        ev = ev.max(rel(a.value as f64, b.value as f64, 0.1));
        let e = rel_vec(&aw, &bw, 1e-2);
        if e > 1e-5 {
            let m = relu_margin(&w, &l);
            assert!(
                m < 1e-5,
                "{preset:?} at {l:?}: weights differ by {e:e}, no ReLU near its kink ({m:e})"
            );
            at_kinks += 1;
        } else {
            ew = ew.max(e);
        }
    }
    eprintln!(
        "agreement {} K={k}: {INPUTS} inputs, max value rel err {ev:.2e}, max weights rel err {ew:.2e} \
         (+{at_kinks} inputs within 1e-5 of a ReLU kink)",
        preset.name()
    );
    assert!(at_kinks * 100 < INPUTS, "{at_kinks} inputs at kinks");
    assert!(ev < 1e-5, "{preset:?}: value rel err {ev:e}");
    assert!(ew < 1e-5, "{preset:?}: weights rel err {ew:e}");
}

#[test]
fn univl_agrees_with_the_native_head() {
    agree(Preset::Univl, 8);
}

#[test]
fn violet_agrees_with_the_native_head() {
    agree(Preset::Violet, 3);
}

#[test]
fn allinone_agrees_with_the_native_head() {
    agree(Preset::Allinone, 2);
}

#[test]
fn paper_agrees_with_the_native_head() {
    agree(Preset::Paper, 6);
}
