//! Issue 6, item 4: the exported artifact's value and per-task weights equal
//! the native head's (`meltr::meltr::Meltr`, dfdx) on 10,000 random inputs,
//! for every preset.
//!
//! Relative error: value `|Δf| / max(|f|, 0.01)` (a head's output is a dot
//! product of d terms, so near zero its round-off is absolute); weights
//! `max_k |Δa_k| / max_k |a_k|`. Both must stay below 1e-5.
#![cfg(feature = "viewer")]

mod export_support;

use export_support::{random_losses, rel, rel_vec};
use meltr::export::{export_component, ExportOptions};
use meltr::meltr::{init_weights, Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use meltr::viewer::{Limits, SandboxedHead};

const INPUTS: usize = 10_000;

fn agree(preset: Preset, k: usize) {
    let w = init_weights(preset.dims(), k, 21).unwrap();
    let native = Meltr::from_weights(w.clone()).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "agreement").unwrap();
    let (mut ev, mut ew) = (0.0f64, 0.0f64);
    for l in random_losses(k, INPUTS, 99) {
        let a = head.evaluate(&l).unwrap();
        let b = native.eval(&l).unwrap();
        let aw: Vec<f64> = a.weights.iter().map(|&x| x as f64).collect();
        let bw: Vec<f64> = b.weights.iter().map(|&x| x as f64).collect();
        ev = ev.max(rel(a.value as f64, b.value as f64, 1e-2));
        ew = ew.max(rel_vec(&aw, &bw, 1e-6));
    }
    eprintln!(
        "agreement {} K={k}: {INPUTS} inputs, max value rel err {ev:.2e}, max weights rel err {ew:.2e}",
        preset.name()
    );
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
