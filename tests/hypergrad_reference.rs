//! The hypergradient engine against JAX (float64, double backward) on a tiny
//! tanh MLP with K = 3 losses and the MELTR head (allinone preset).
//! `tests/reference/hypergrad/gen_hypergrad_vectors.py` computes the
//! reference code's AID-FP-Lite formula with true double backward; here the
//! same numbers come from first-order pieces only (central differences in
//! f32 for `c = J v`, forward-mode through the head).

use crate::common;

use common::mlp::Mlp;
use common::{f64s, formula_weights, head_sized_error};
use meltr::head::{Meltr, Preset};
use meltr::hypergrad::{
    BilevelProblem, HypergradStrategy, Identity, InnerModel, MetaLearner, MetaSettings, Problem,
    Unrolled,
};
use meltr::meta_loss::MetaLoss;
use serde_json::Value;

fn reference() -> Value {
    let text = std::fs::read_to_string("tests/reference/hypergrad/mlp_aid_fp_lite.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn rel(ours: &[f32], reference: &[f64]) -> f64 {
    let num: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

fn head() -> Meltr {
    Meltr::from_weights(formula_weights(Preset::Allinone.dims(), 3, 77)).unwrap()
}

fn settings(reference_compat: bool) -> MetaSettings {
    // On this smooth tanh MLP f32 round-off, not truncation, limits the
    // central differences, so the largest step is best; the default is
    // sized for the built-in networks (design §8).
    MetaSettings {
        gamma: 0.1,
        reference_compat,
        fd_step: 1e-3,
        ..MetaSettings::default()
    }
}

#[test]
fn model_and_data_match_the_generator() {
    let r = reference();
    let m = Mlp::new();
    // The JSON holds the f32 weights as decimal text: equal to round-off.
    assert!(rel(&m.params().to_vec(), &f64s(&r["w"])) < 1e-12);
    let (a, b) = (m.batch(0), m.batch(1));
    assert!(rel(&m.losses(&a, 0).unwrap(), &f64s(&r["l_a"])) < 1e-6);
    assert!(rel(&m.losses(&b, 0).unwrap(), &f64s(&r["l_b"])) < 1e-6);
}

#[test]
fn outer_gradient_and_loss_jvp_match_and_c_matches_k_backward_passes() {
    let r = reference();
    let mut m = Mlp::new();
    let h = head();
    let (a, b) = (m.batch(0), m.batch(1));
    // c by K separate backward passes: c_k = <∇_w l_k(w; B), v>.
    let v_ref: Vec<f32> = f64s(&r["v"]).iter().map(|x| *x as f32).collect();
    let v_dev = meltr::tensor::ParamVec::from_vec(&meltr::tensor::Dev::default(), v_ref);
    let c_backward: Vec<f32> = (0..3)
        .map(|k| {
            let (_, g) = m
                .weighted_grad(&b, 0, &mut |_| {
                    let mut one = vec![0.0; 3];
                    one[k] = 1.0;
                    Ok(one)
                })
                .unwrap();
            g.dot(&v_dev)
        })
        .collect();
    let mut p = Problem::new(&mut m, &h, (&a, 0), (&b, 0), 0.1, 1e-3);
    let v = p.outer_grad().unwrap();
    let v_err = rel(&v.to_vec(), &f64s(&r["v"]));
    let c = p.loss_jvp(&v).unwrap();
    let c_err = rel(&c, &f64s(&r["c"]));
    // Relative to ‖c‖: c_1 ≈ 4e-3 is a thousand times smaller than c_0.
    let c_vs_backward = rel(
        &c,
        &c_backward.iter().map(|v| *v as f64).collect::<Vec<_>>(),
    );
    println!("v {v_err:.1e}  c vs JAX {c_err:.1e}  c vs K backward passes {c_vs_backward:.1e}");
    assert!(v_err < 1e-5, "v: {v_err}");
    assert!(c_err < 1e-3, "c: {c:?} vs {}", r["c"]);
    assert!(
        c_vs_backward < 1e-3,
        "c {c:?} vs K backwards {c_backward:?}"
    );
    // The parameters are back where they were.
    assert!(rel(&m.params().to_vec(), &f64s(&r["w"])) < 1e-12);
}

fn hypergrad_error(strategy: Box<dyn HypergradStrategy>, compat: bool, key: &str) -> f64 {
    let r = reference();
    let mut m = Mlp::new();
    let h = head();
    let (a, b) = (m.batch(0), m.batch(1));
    let learner = MetaLearner::new(&h, Some(strategy), settings(compat));
    let (g, _, _, _) = learner
        .hypergradient(&mut m, &h, (&a, 0), (&b, 0))
        .unwrap()
        .unwrap();
    let shapes = h.weights().shapes().to_vec();
    let target = if key == "unrolled" {
        &r["unrolled_step"]["unrolled"]
    } else {
        &r[key]
    };
    head_sized_error(&g.to_vec(), &shapes, target, 1e-3)
}

#[test]
fn aid_fp_lite_matches_the_reference_codes_double_backward() {
    let e = hypergrad_error(Box::new(Identity {}), true, "hypergrad_reference");
    println!("AID-FP-Lite (reference_compat) vs double backward: {e:.1e}");
    assert!(e < 1e-3, "{e}");
}

#[test]
fn aid_fp_lite_with_the_direct_term_matches() {
    let e = hypergrad_error(Box::new(Identity {}), false, "hypergrad_full");
    println!("AID-FP-Lite with direct term: {e:.1e}");
    assert!(e < 1e-3, "{e}");
}

#[test]
fn one_step_unrolled_matches_brute_force_autodiff_through_the_step() {
    let e = hypergrad_error(Box::new(Unrolled { lr: 0.05 }), false, "unrolled");
    println!("unrolled vs autodiff through the step: {e:.1e}");
    assert!(e < 1e-3, "{e}");
}

#[test]
fn a_meta_step_changes_the_head_and_counts_its_passes() {
    let mut m = Mlp::new();
    let mut h = head();
    let (a, b) = (m.batch(0), m.batch(1));
    let before = h.params().to_vec();
    let mut learner = MetaLearner::new(&h, None, settings(false));
    let out = learner.step(&mut m, &mut h, (&a, 0), (&b, 0)).unwrap();
    match out {
        meltr::hypergrad::MetaOutcome::Updated { passes, .. } => {
            // AID-FP-Lite: the outer gradient (primary on A, regulariser on
            // B) and two tape-free forwards for J v.
            assert_eq!((passes.backwards, passes.forwards), (2, 2));
        }
        other => panic!("{other:?}"),
    }
    let after = h.params().to_vec();
    let moved = before.iter().zip(&after).filter(|(x, y)| x != y).count();
    assert!(moved > after.len() / 2, "{moved} of {} moved", after.len());
    // Adam's first step moves each parameter by at most lr.
    assert!(before
        .iter()
        .zip(&after)
        .all(|(x, y)| (x - y).abs() <= 1.01e-3));
}
