//! Property tests of the loss combinators (proptest).

use meltr::head::{HeadWeights, Meltr, Output, Preset};
use meltr::meta_loss::{
    Dwa, GradNorm, LearnedLinear, MetaLoss, Observation, Sum, Uncertainty, Weighted,
};
use meltr::tensor::{device, ParamVec};
use proptest::prelude::*;

/// Sets a combinator's parameters from host values.
fn set(m: &mut dyn MetaLoss, p: &[f32]) -> meltr::Result<()> {
    m.set_params(&ParamVec::from_vec(&device(), p.to_vec()))
}

fn losses(k: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<f32>> {
    k.prop_flat_map(|k| prop::collection::vec(0.0f32..20.0, k))
}

/// A small head (allinone, K = 4) so the cases stay fast. Built per case:
/// a device head is not `Sync` under CUDA, so it cannot live in a static.
fn head() -> Meltr {
    Meltr::init(Preset::Allinone, 4, 3).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sum_is_the_plain_sum_with_unit_weights(l in losses(1..=16)) {
        let e = Sum::default().eval(&l).unwrap();
        let plain: f32 = l.iter().sum();
        prop_assert!((e.value - plain).abs() <= 1e-5 * plain.abs().max(1.0));
        prop_assert_eq!(e.weights, vec![1.0; l.len()]);
    }

    #[test]
    fn weighted_is_linear_and_returns_its_weights(
        (w, a, b) in (1usize..=8).prop_flat_map(|k| (
            prop::collection::vec(-3.0f32..3.0, k),
            prop::collection::vec(0.0f32..20.0, k),
            prop::collection::vec(0.0f32..20.0, k),
        )),
        s in -2.0f32..2.0,
    ) {
        let m = Weighted::new(w.clone()).unwrap();
        let combo: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + s * y).collect();
        let lhs = m.eval(&combo).unwrap().value;
        let rhs = m.eval(&a).unwrap().value + s * m.eval(&b).unwrap().value;
        prop_assert!((lhs - rhs).abs() <= 1e-3 * (1.0 + rhs.abs()), "{} vs {}", lhs, rhs);
        prop_assert_eq!(m.eval(&a).unwrap().weights, w);
    }

    #[test]
    fn learned_linear_weights_stay_non_negative(
        theta in prop::collection::vec(-50.0f32..50.0, 1..=16),
        l in prop::collection::vec(0.0f32..1e4, 16),
    ) {
        let mut m = LearnedLinear::new(theta.len()).unwrap();
        set(&mut m, &theta).unwrap();
        let e = m.eval(&l[..theta.len()]).unwrap();
        prop_assert!(e.weights.iter().all(|w| *w >= 0.0 && w.is_finite()), "{:?}", e.weights);
        prop_assert!(e.value >= 0.0);
    }

    #[test]
    fn learned_linear_gradients_match_central_differences(
        theta in prop::collection::vec(-3.0f32..3.0, 1..=6),
        seed in 0u64..1000,
    ) {
        let k = theta.len();
        let l: Vec<f32> = (0..k).map(|i| 0.5 + ((seed as usize + i * 7) % 13) as f32).collect();
        let c: Vec<f32> = (0..k).map(|i| ((seed as usize * 3 + i) % 5) as f32 - 2.0).collect();
        let mut m = LearnedLinear::new(k).unwrap();
        set(&mut m, &theta).unwrap();
        let g = m.param_grad(&l, 1.0).unwrap().to_vec();
        let h = m.mixed_grad(&l, &c).unwrap().to_vec();
        let eps = 1e-2f64;
        for i in 0..k {
            let at = |d: f64| {
                let mut t: Vec<f64> = theta.iter().map(|v| *v as f64).collect();
                t[i] += d;
                let w: Vec<f64> = t.iter().map(|x| (1.0 + x.exp()).ln()).collect();
                let value: f64 = w.iter().zip(&l).map(|(w, l)| w * *l as f64).sum();
                let tangent: f64 = w.iter().zip(&c).map(|(w, c)| w * *c as f64).sum();
                (value, tangent)
            };
            let (vp, tp) = at(eps);
            let (vm, tm) = at(-eps);
            let fd_g = (vp - vm) / (2.0 * eps);
            let fd_h = (tp - tm) / (2.0 * eps);
            prop_assert!((g[i] as f64 - fd_g).abs() <= 1e-3 * (1.0 + fd_g.abs()));
            prop_assert!((h[i] as f64 - fd_h).abs() <= 1e-3 * (1.0 + fd_h.abs()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn meltr_is_permutation_equivariant(
        l in prop::collection::vec(0.01f32..20.0, 4),
        perm in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
    ) {
        let h = head();
        let w = h.weights();
        let d = w.dims.d;
        // Permute the task-embedding rows together with the inputs.
        let mut pw: HeadWeights = w.clone();
        for (new, &old) in perm.iter().enumerate() {
            pw.tensors[0][new * d..(new + 1) * d].copy_from_slice(&w.tensors[0][old * d..(old + 1) * d]);
        }
        let permuted = Meltr::from_weights(pw).unwrap();
        let pl: Vec<f32> = perm.iter().map(|&old| l[old]).collect();
        let a = h.eval(&l).unwrap();
        let b = permuted.eval(&pl).unwrap();
        prop_assert!((a.value - b.value).abs() <= 1e-5 * (1.0 + a.value.abs()), "{} vs {}", a.value, b.value);
        for (new, &old) in perm.iter().enumerate() {
            prop_assert!((b.weights[new] - a.weights[old]).abs() <= 1e-5 * (1.0 + a.weights[old].abs()));
        }
    }

    #[test]
    fn meltr_input_gradient_matches_central_differences(
        l in prop::collection::vec(0.05f32..20.0, 4),
    ) {
        let h = head();
        let e = h.eval(&l).unwrap();
        let scale = e.weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        for k in 0..4 {
            // Differences in f32. The scale embedding has 128 ReLU kinks
            // along each loss axis: where a kink lies within the step the
            // point is skipped. One kink shows as forward and backward
            // differences that disagree; kinks on both sides can bend both
            // alike (seen: both 50 % off at l = [16.7, 9.97, 3.85, 3.17]),
            // so the central difference must also hold at half the step.
            // f32 round-off bounds the agreement at a few percent; the exact
            // check is `tests/head_reference.rs` (JAX).
            let step = 2e-3 * l[k].max(1.0);
            let at = |d: f32| {
                let mut x = l.clone();
                x[k] += d;
                h.value(&x).unwrap()
            };
            let (up, mid, down) = (at(step), at(0.0), at(-step));
            let (forward, backward) = ((up - mid) / step, (mid - down) / step);
            prop_assume!((forward - backward).abs() <= 2e-2 * scale);
            let coarse = (up - down) / (2.0 * step);
            let fine = (at(step / 2.0) - at(-step / 2.0)) / step;
            prop_assume!((coarse - fine).abs() <= 1e-2 * scale);
            prop_assert!((fine - e.weights[k]).abs() <= 5e-2 * scale,
                "task {}: fd {} vs {}", k, fine, e.weights[k]);
        }
    }

    #[test]
    fn meltr_outputs_are_finite_on_large_losses(l in prop::collection::vec(0.0f32..1e4, 4)) {
        let e = head().eval(&l).unwrap();
        prop_assert!(e.value.is_finite());
        prop_assert!(e.weights.iter().all(|w| w.is_finite()));
        let g = head().mixed_grad(&l, &[1.0, -1.0, 0.5, 2.0]).unwrap();
        prop_assert!(g.to_vec().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn weights_round_trip_bit_exactly(seed in 0u64..10_000, k in 1usize..=16) {
        let w = meltr::head::init_weights(Preset::Allinone.dims(), k, seed).unwrap();
        let bytes = w.to_bytes().unwrap();
        let back = HeadWeights::from_bytes(&bytes, std::path::Path::new("mem")).unwrap();
        prop_assert_eq!(&back, &w);
        let bits = |w: &HeadWeights| w.flat().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&back), bits(&w));
    }
}

#[test]
fn set_params_round_trips_and_changes_the_output() {
    let mut h = Meltr::init(Preset::Allinone, 3, 5).unwrap();
    let p = h.params().to_vec();
    assert_eq!(p.len(), h.num_params());
    let before = h.eval(&[1.0, 2.0, 3.0]).unwrap().value;
    let shifted: Vec<f32> = p.iter().map(|v| v * 1.1).collect();
    set(&mut h, &shifted).unwrap();
    assert_eq!(h.params().to_vec(), shifted);
    assert_eq!(h.weights().flat(), shifted);
    assert_ne!(h.eval(&[1.0, 2.0, 3.0]).unwrap().value, before);
    let err = set(&mut h, &p[1..]).unwrap_err().to_string();
    assert!(err.contains("expected"), "{err}");
    let mut bad = shifted.clone();
    bad[7] = f32::NAN;
    let err = set(&mut h, &bad).unwrap_err().to_string();
    assert!(err.contains("params") && err.contains("7"), "{err}");
    assert_eq!(
        h.params().to_vec(),
        shifted,
        "a refused update changes nothing"
    );
}

#[test]
fn head_term_matches_central_differences_of_the_tangent() {
    head_term_matches_central_differences(Output::Free, None);
}

#[test]
fn the_mixed_heads_weights_are_positive_sum_to_k_and_its_head_term_matches_differences() {
    let mut h = Meltr::init(Preset::Allinone, 3, 9).unwrap();
    h.set_output(Output::Mix);
    let l = [0.8f32, 3.0, 0.2];
    let e = h.eval(&l).unwrap();
    assert!(e.weights.iter().all(|w| *w > 0.0), "{:?}", e.weights);
    assert!((e.weights.iter().sum::<f32>() - 3.0).abs() < 1e-5);
    let value: f32 = e.weights.iter().zip(&l).map(|(w, l)| w * l).sum();
    assert!((e.value - value).abs() < 1e-5);
    // The weights are K · softmax of the free head's.
    let free = Meltr::init(Preset::Allinone, 3, 9)
        .unwrap()
        .eval(&l)
        .unwrap()
        .weights;
    let z: f32 = free.iter().map(|a| a.exp()).sum();
    for (w, a) in e.weights.iter().zip(&free) {
        assert!((w - 3.0 * a.exp() / z).abs() < 1e-5);
    }
    // ∂f/∂φ with the losses held is the head term along l.
    let (pg, mg) = (
        h.param_grad(&l, 2.0).unwrap().to_vec(),
        h.mixed_grad(&l, &l).unwrap().to_vec(),
    );
    assert!(pg
        .iter()
        .zip(&mg)
        .all(|(p, m)| (p - 2.0 * m).abs() <= 1e-6 * (1.0 + p.abs())));
    head_term_matches_central_differences(Output::Mix, None);
}

#[test]
fn a_bounded_mix_is_the_softmax_of_bounded_logits_and_its_head_term_matches_differences() {
    let l = [0.8f32, 3.0, 0.2];
    // Parameters scaled up: the free head's weights (the logits) grow far
    // beyond the bound, where an unbounded mix saturates.
    let mut big = Meltr::init(Preset::Allinone, 3, 9).unwrap();
    let p: Vec<f32> = big.params().to_vec().iter().map(|v| v * 3.0).collect();
    set(&mut big, &p).unwrap();
    let free = big.eval(&l).unwrap().weights;
    let spread = free.iter().cloned().fold(f32::MIN, f32::max)
        - free.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 8.0, "logits spread {spread}: not past the bound");
    let s = 1.5f32;
    big.set_output(Output::Mix);
    big.set_mix_bound(Some(s)).unwrap();
    let w = big.eval(&l).unwrap().weights;
    let b: Vec<f32> = free.iter().map(|a| s * (a / s).tanh()).collect();
    let z: f32 = b.iter().map(|b| b.exp()).sum();
    for (w, b) in w.iter().zip(&b) {
        assert!(
            (w - 3.0 * b.exp() / z).abs() < 1e-5,
            "{w} vs {}",
            3.0 * b.exp() / z
        );
    }
    let (hi, lo) = (
        w.iter().cloned().fold(f32::MIN, f32::max),
        w.iter().cloned().fold(f32::MAX, f32::min),
    );
    assert!(hi / lo <= (2.0 * s).exp() * 1.0001, "{w:?}");
    assert!((w.iter().sum::<f32>() - 3.0).abs() < 1e-5);
    // At initialisation the head's weights are a few hundredths: a bound
    // of that size puts them on the curved part of the tanh.
    head_term_matches_central_differences(Output::Mix, Some(0.02));
}

#[test]
fn a_mix_bound_needs_the_mix_and_a_positive_value() {
    let build = |extra: &str| -> Result<Box<dyn MetaLoss>, String> {
        toml::from_str(&format!(
            "type = \"meltr\"\npreset = \"allinone\"\ntasks = 3\n{extra}"
        ))
        .map_err(|e: toml::de::Error| e.to_string())
    };
    assert!(build("output = \"mix\"\nmix_bound = 2.0").is_ok());
    for (extra, names) in [
        ("mix_bound = 2.0", "output = \"mix\""),
        ("output = \"mix\"\nmix_bound = -1.0", "-1"),
        ("output = \"mix\"\nmix_bound = 0.0", "positive"),
    ] {
        let err = build(extra).err().expect(extra);
        assert!(
            err.contains("mix_bound") && err.contains(names),
            "{extra}: {err}"
        );
    }
}

fn head_term_matches_central_differences(output: Output, bound: Option<f32>) {
    // Independent of the JAX vectors: perturb a few parameters and
    // difference the tangent D_l f[c] = c · ∇_l f computed in reverse mode.
    let mut h = Meltr::init(Preset::Allinone, 3, 9).unwrap();
    h.set_output(output);
    h.set_mix_bound(bound).unwrap();
    let l = [0.8f32, 3.0, 0.2];
    let c = [1.0f32, -0.5, 0.25];
    let g = h.mixed_grad(&l, &c).unwrap().to_vec();
    let p = h.params().to_vec();
    let layout = h.param_layout();
    let mut offset = 0;
    let (mut checked, mut skipped) = (0, 0);
    for block in &layout {
        // The largest entry of each block is well above f32 round-off.
        let (i, _) =
            g[offset..offset + block.len()]
                .iter()
                .enumerate()
                .fold(
                    (0, 0.0f32),
                    |b, (i, v)| if v.abs() > b.1 { (i, v.abs()) } else { b },
                );
        let idx = offset + i;
        offset += block.len();
        if g[idx].abs() < 1e-4 {
            continue;
        }
        let tangent = |h: &Meltr| {
            let e = h.eval(&l).unwrap();
            e.weights
                .iter()
                .zip(&c)
                .map(|(w, c)| (w * c) as f64)
                .sum::<f64>()
        };
        let mut fd = |step: f32| {
            let mut q = p.clone();
            q[idx] = p[idx] + step;
            set(&mut h, &q).unwrap();
            let up = tangent(&h);
            q[idx] = p[idx] - step;
            set(&mut h, &q).unwrap();
            let down = tangent(&h);
            set(&mut h, &p).unwrap();
            (up - down) / (2.0 * step as f64)
        };
        // The tangent jumps where a ReLU switches; two steps that disagree
        // straddle such a kink, and the entry is skipped.
        let step = 3e-3 * p[idx].abs().max(1.0);
        let (coarse, fine) = (fd(step), fd(step / 2.0));
        if (coarse - fine).abs() > 2e-2 * fine.abs() {
            skipped += 1;
            continue;
        }
        let rel = (fine - g[idx] as f64).abs() / (g[idx] as f64).abs();
        assert!(rel < 5e-2, "{}[{i}]: fd {fine} vs {}", block.name, g[idx]);
        checked += 1;
    }
    // The softmax's Jacobian shrinks the head term (p(1 − p) ≤ 1/4), so
    // fewer entries of the mix stand above f32 round-off.
    let least = if output == Output::Free { 12 } else { 8 };
    assert!(
        checked >= least,
        "{output:?}: checked {checked}, skipped {skipped}"
    );
}

// The adaptive baselines (uncertainty weighting, DWA, GradNorm): their
// weights follow the papers' formulas, stay positive and finite, and they
// are never moved by meta gradients.

fn step(m: &mut dyn MetaLoss, l: &[f32], g: Option<&[f32]>) {
    m.observe(&Observation::Step {
        losses: l,
        grad_norms: g,
    })
    .unwrap();
}

fn epoch(m: &mut dyn MetaLoss, l: &[f32]) {
    m.observe(&Observation::Epoch { mean_losses: l }).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn uncertainty_weighting_is_kendalls_loss_and_settles_at_the_log_loss(
        l in prop::collection::vec(0.5f32..10.0, 1..=6),
        other in prop::collection::vec(0.0f32..20.0, 6),
    ) {
        let k = l.len();
        let mut m = Uncertainty::new(k, 0.1).unwrap();
        prop_assert!(m.adapts_itself());
        for _ in 0..3000 {
            step(&mut m, &l, None);
        }
        // The fixed point of s ← s − lr (1 − l e^{−s}) / 2 is s = ln l.
        for (s, l) in m.log_variances().iter().zip(&l) {
            prop_assert!((s - l.ln()).abs() < 1e-3, "s {} vs ln l {}", s, l.ln());
        }
        // f(l') = Σ l'_k / (2 e^{s_k}) + s_k / 2; weights 1 / (2 e^{s_k}) > 0.
        let e = m.eval(&other[..k]).unwrap();
        let s = m.log_variances();
        let want: f64 = (0..k).map(|i| other[i] as f64 / (2.0 * (s[i] as f64).exp()) + s[i] as f64 / 2.0).sum();
        prop_assert!((e.value as f64 - want).abs() < 1e-4 * (1.0 + want.abs()));
        for i in 0..k {
            prop_assert!(e.weights[i] > 0.0);
            prop_assert!((e.weights[i] - 0.5 / l[i]).abs() < 1e-3 * e.weights[i] + 1e-6);
        }
    }

    #[test]
    fn dwa_follows_the_loss_ratios_of_the_last_two_epochs(
        first in prop::collection::vec(0.1f32..10.0, 2..=6),
        drop in prop::collection::vec(0.2f32..1.5, 6),
        t in 0.5f32..4.0,
    ) {
        let k = first.len();
        let mut m = Dwa::new(k, t).unwrap();
        let l = vec![1.0; k];
        prop_assert_eq!(m.eval(&l).unwrap().weights, vec![1.0; k]);
        epoch(&mut m, &first);
        prop_assert_eq!(m.eval(&l).unwrap().weights, vec![1.0; k]);
        let second: Vec<f32> = first.iter().zip(&drop).map(|(a, d)| a * d).collect();
        epoch(&mut m, &second);
        let w = m.eval(&l).unwrap().weights;
        // w_k = K exp(r_k / T) / Σ_j exp(r_j / T), r_k = L_k(2) / L_k(1).
        let r: Vec<f64> = (0..k).map(|i| second[i] as f64 / first[i] as f64).collect();
        let z: f64 = r.iter().map(|x| (x / t as f64).exp()).sum();
        for i in 0..k {
            let want = k as f64 * (r[i] / t as f64).exp() / z;
            prop_assert!((w[i] as f64 - want).abs() < 1e-4, "{:?}", w);
        }
        prop_assert!((w.iter().sum::<f32>() - k as f32).abs() < 1e-4);
    }

    #[test]
    fn gradnorm_weights_stay_positive_sum_to_k_and_shrink_the_largest_gradient(
        g in prop::collection::vec(0.01f32..10.0, 2..=6),
        l in prop::collection::vec(0.1f32..10.0, 6),
        steps in 1usize..20,
    ) {
        let k = g.len();
        let mut m = GradNorm::new(k, 1.5, 0.025).unwrap();
        prop_assert!(m.wants_grad_norms());
        // Equal training rates (the same losses every step): the target is
        // the mean gradient norm, so the first step takes weight from the
        // task with the largest G and gives it to the one with the smallest.
        for n in 0..steps {
            step(&mut m, &l[..k], Some(&g));
            let w = m.weights();
            prop_assert!(w.iter().all(|x| *x > 0.0 && x.is_finite()), "{:?}", w);
            prop_assert!((w.iter().sum::<f32>() - k as f32).abs() < 1e-3, "{:?}", w);
            let (hi, lo) = (argmax(&g), argmin(&g));
            if n == 0 && g[hi] > g[lo] * 1.01 {
                prop_assert!(w[hi] < 1.0 && w[lo] > 1.0, "g {:?} w {:?}", g, w);
            }
        }
    }

    #[test]
    fn adaptive_baselines_take_no_meta_gradient_and_round_trip_their_state(
        l in prop::collection::vec(0.1f32..10.0, 3),
        c in prop::collection::vec(-2.0f32..2.0, 3),
    ) {
        let mut all: Vec<Box<dyn MetaLoss>> = vec![
            Box::new(Uncertainty::new(3, 0.01).unwrap()),
            Box::new(Dwa::new(3, 2.0).unwrap()),
            Box::new(GradNorm::new(3, 1.5, 0.025).unwrap()),
        ];
        for m in &mut all {
            step(&mut **m, &l, Some(&[1.0, 2.0, 3.0]));
            epoch(&mut **m, &l);
            prop_assert!(m.param_grad(&l, 1.0).unwrap().to_vec().iter().all(|x| *x == 0.0));
            prop_assert!(m.mixed_grad(&l, &c).unwrap().to_vec().iter().all(|x| *x == 0.0));
            let before = m.eval(&l).unwrap();
            let state = m.params();
            let mut fresh: Box<dyn MetaLoss> = toml::from_str(&toml::to_string(&**m).unwrap()).unwrap();
            fresh.set_params(&state).unwrap();
            prop_assert_eq!(fresh.eval(&l).unwrap(), before);
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

fn argmin(v: &[f32]) -> usize {
    (0..v.len()).min_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

#[test]
fn gradnorm_without_gradient_norms_and_bad_settings_are_refused_by_name() {
    let mut m = GradNorm::new(2, 1.5, 0.025).unwrap();
    let e = m
        .observe(&Observation::Step {
            losses: &[1.0, 2.0],
            grad_norms: None,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("gradient norm"), "{e}");
    for (text, field) in [
        ("type = \"uncertainty\"\ntasks = 2\nlr = -1.0", "lr"),
        ("type = \"dwa\"\ntasks = 0", "tasks"),
        ("type = \"gradnorm\"\ntasks = 2\nalpha = -1.0", "alpha"),
        ("type = \"dwa\"\ntasks = 2\ntemp = 1.0", "temp"),
    ] {
        let e = toml::from_str::<Box<dyn MetaLoss>>(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{text}: {e}");
    }
}
