//! Hypergradient strategies on quadratic task losses, where the exact
//! implicit hypergradient comes from solving with the exact Hessian (f64).
//!
//! `l_k(w) = ½ (w − t_k)ᵀ A_k (w − t_k)`, head `f = Σ_k softplus(θ_k) l_k`
//! (`learned_linear`), outer loss `l_0 + γ|Σ_k l_k − f|`. Then
//! `H = Σ_k s_k A_k`, `∂/∂θ_j ∇_w f = σ(θ_j) A_j (w − t_j)`, and the exact
//! hypergradient is `direct_j − σ(θ_j) ⟨A_j (w − t_j), H⁻¹ v⟩`.

use crate::common;

use common::quadratic::{dot, matvec, solve, Quadratic};
use meltr::hypergrad::{
    ConjugateGradient, HypergradStrategy, Identity, MetaLearner, MetaSettings, Neumann, Unrolled,
};
use meltr::meta_loss::{LearnedLinear, MetaLoss};

const GAMMA: f64 = 0.1;

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

struct Setup {
    q: Quadratic,
    head: LearnedLinear,
    theta: Vec<f64>,
}

fn setup() -> Setup {
    let q = Quadratic::new(6, 3, 5);
    let head = LearnedLinear::with_weights(&[1.0, 0.5, 0.3]).unwrap();
    let theta = head.params().to_vec().iter().map(|v| *v as f64).collect();
    Setup { q, head, theta }
}

/// `L_out(w, θ)` in f64.
fn outer_loss(q: &Quadratic, w: &[f64], theta: &[f64]) -> f64 {
    let l: Vec<f64> = (0..3).map(|k| q.loss(k, w)).collect();
    let f: f64 = l.iter().zip(theta).map(|(l, t)| softplus(*t) * l).sum();
    l[0] + GAMMA * (l.iter().sum::<f64>() - f).abs()
}

/// `(v, H, direct term)` at the model's parameters, in f64.
fn exact_pieces(s: &Setup) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let w = s.q.w64();
    let l: Vec<f64> = (0..3).map(|k| s.q.loss(k, &w)).collect();
    let sp: Vec<f64> = s.theta.iter().map(|t| softplus(*t)).collect();
    let f: f64 = l.iter().zip(&sp).map(|(l, s)| l * s).sum();
    let sign = (l.iter().sum::<f64>() - f).signum();
    let g: Vec<Vec<f64>> = (0..3).map(|k| s.q.grad(k, &w)).collect();
    let mut v = g[0].clone();
    for k in 0..3 {
        for (vi, gi) in v.iter_mut().zip(&g[k]) {
            *vi += GAMMA * sign * (1.0 - sp[k]) * gi;
        }
    }
    let p = w.len();
    let h: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            (0..p)
                .map(|j| (0..3).map(|k| sp[k] * s.q.a[k][i][j]).sum())
                .collect()
        })
        .collect();
    let direct = (0..3)
        .map(|j| -GAMMA * sign * sigmoid(s.theta[j]) * l[j])
        .collect();
    (v, h, direct)
}

/// `direct_j − σ(θ_j) ⟨∇ l_j, x⟩` for a parameter-space vector `x`.
fn hypergrad_for(s: &Setup, x: &[f64], direct: &[f64]) -> Vec<f64> {
    let w = s.q.w64();
    (0..3)
        .map(|j| direct[j] - sigmoid(s.theta[j]) * dot(&s.q.grad(j, &w), x))
        .collect()
}

fn engine(s: &mut Setup, strategy: Box<dyn HypergradStrategy>) -> Vec<f64> {
    // A central difference is exact on this quadratic, so only f32 round-off
    // is left, and the largest step has the least; the default step is
    // sized for real networks, where truncation dominates (design §8).
    let settings = MetaSettings {
        gamma: GAMMA as f32,
        fd_step: 1e-3,
        ..MetaSettings::default()
    };
    let learner = MetaLearner::new(&s.head, Some(strategy), settings);
    let (g, ..) = learner
        .hypergradient(&mut s.q, &s.head, (&(), 0), (&(), 0))
        .unwrap()
        .unwrap();
    g.to_vec().iter().map(|v| *v as f64).collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (num / dot(b, b)).sqrt()
}

fn fmt(errors: &[f64]) -> String {
    errors
        .iter()
        .map(|e| format!("{e:.1e}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn largest_eigenvalue(h: &[Vec<f64>]) -> f64 {
    let mut x = vec![1.0; h.len()];
    for _ in 0..500 {
        let y = matvec(h, &x);
        let n = dot(&y, &y).sqrt();
        x = y.iter().map(|v| v / n).collect();
    }
    dot(&x, &matvec(h, &x))
}

#[test]
fn identity_equals_the_independent_first_order_formula() {
    let mut s = setup();
    let (v, _, direct) = exact_pieces(&s);
    let expected = hypergrad_for(&s, &v, &direct);
    let got = engine(&mut s, Box::new(Identity {}));
    let e = rel(&got, &expected);
    println!("identity vs −∂/∂φ[(J v)·∇_l f] + direct: {e:.1e}");
    assert!(e < 1e-4, "{got:?} vs {expected:?}");
}

#[test]
fn neumann_approaches_the_exact_implicit_hypergradient() {
    let mut s = setup();
    let (v, h, direct) = exact_pieces(&s);
    let exact = hypergrad_for(&s, &solve(&h, &v), &direct);
    let alpha = 1.0 / largest_eigenvalue(&h);
    let mut errors = vec![];
    for terms in [0, 2, 8, 32, 128] {
        let n = Neumann {
            terms,
            alpha: alpha as f32,
            leading_alpha: true,
        };
        errors.push(rel(&engine(&mut s, Box::new(n)), &exact));
    }
    println!(
        "neumann (exact, α = 1/λmax) error by terms 0,2,8,32,128: {}",
        fmt(&errors)
    );
    // Falls until it meets the f32 round-off of the central differences.
    assert!(
        errors.windows(2).all(|w| w[1] < w[0] || w[1] < 1e-4),
        "{errors:?}"
    );
    assert!(errors[4] < 1e-3, "{errors:?}");
}

#[test]
fn auxlearn_neumann_with_zero_terms_is_aid_fp_lite() {
    let mut s = setup();
    let id = engine(&mut s, Box::new(Identity {}));
    let n0 = engine(
        &mut s,
        Box::new(Neumann {
            terms: 0,
            alpha: 0.3,
            leading_alpha: false,
        }),
    );
    assert!(rel(&n0, &id) < 1e-6, "{n0:?} vs {id:?}");
}

#[test]
fn conjugate_gradient_approaches_the_exact_implicit_hypergradient() {
    let mut s = setup();
    let (v, h, direct) = exact_pieces(&s);
    let exact = hypergrad_for(&s, &solve(&h, &v), &direct);
    let mut errors = vec![];
    for iters in [1, 2, 4, 6] {
        let cg = ConjugateGradient {
            iters,
            damping: 0.0,
        };
        errors.push(rel(&engine(&mut s, Box::new(cg)), &exact));
    }
    println!(
        "conjugate gradient error by iterations 1,2,4,6 (P = 6): {}",
        fmt(&errors)
    );
    // Falls until it meets the f32 round-off of the central differences.
    assert!(
        errors.windows(2).all(|w| w[1] < w[0] || w[1] < 1e-4),
        "{errors:?}"
    );
    assert!(errors[3] < 1e-3, "{errors:?}");
}

#[test]
fn damped_conjugate_gradient_solves_the_damped_system() {
    let mut s = setup();
    let (v, mut h, direct) = exact_pieces(&s);
    for (i, row) in h.iter_mut().enumerate() {
        row[i] += 2.0;
    }
    let exact = hypergrad_for(&s, &solve(&h, &v), &direct);
    let cg = ConjugateGradient {
        iters: 6,
        damping: 2.0,
    };
    let e = rel(&engine(&mut s, Box::new(cg)), &exact);
    assert!(e < 1e-3, "{e}");
}

#[test]
fn unrolled_equals_a_brute_force_derivative_of_the_one_step_objective() {
    let mut s = setup();
    let eta = 0.05;
    let w = s.q.w64();
    // φ ↦ L_out(w − η ∇_w f_θ(w), θ), differenced in f64.
    let objective = |theta: &[f64]| {
        let mut w2 = w.clone();
        for k in 0..3 {
            let g = s.q.grad(k, &w);
            for (wi, gi) in w2.iter_mut().zip(g) {
                *wi -= eta * softplus(theta[k]) * gi;
            }
        }
        outer_loss(&s.q, &w2, theta)
    };
    let expected: Vec<f64> = (0..3)
        .map(|j| {
            let h = 1e-6;
            let mut up = s.theta.clone();
            up[j] += h;
            let mut down = s.theta.clone();
            down[j] -= h;
            (objective(&up) - objective(&down)) / (2.0 * h)
        })
        .collect();
    let got = engine(&mut s, Box::new(Unrolled { lr: eta as f32 }));
    let e = rel(&got, &expected);
    println!("unrolled vs brute force: {e:.1e}");
    assert!(e < 1e-3, "{got:?} vs {expected:?}");
}
