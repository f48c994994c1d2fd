//! Shared test helpers: a plain f64 evaluator of the MELTR head, written
//! straight from the PyTorch reference (eval mode), used as the oracle for
//! exported artifacts.
#![allow(dead_code)]

use meltr::head::HeadWeights;
use rand::{Rng, SeedableRng};

/// `y[o] = b[o] + Σ_i w[o, i] x[i]`, `w` stored `out x in`.
fn linear(w: &[f32], b: Option<&[f32]>, x: &[f64], nout: usize) -> Vec<f64> {
    let nin = x.len();
    (0..nout)
        .map(|o| {
            let s: f64 = (0..nin).map(|i| w[o * nin + i] as f64 * x[i]).sum();
            s + b.map_or(0.0, |b| b[o] as f64)
        })
        .collect()
}

fn layer_norm(x: &[f64], g: &[f32], b: &[f32]) -> Vec<f64> {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n;
    let r = 1.0 / (v + 1e-5).sqrt();
    x.iter()
        .enumerate()
        .map(|(i, a)| (a - m) * r * g[i] as f64 + b[i] as f64)
        .collect()
}

/// The head's value at `l`, in f64.
pub fn reference_value(w: &HeadWeights, l: &[f64]) -> f64 {
    reference_forward(w, l).0
}

/// The smallest |pre-activation| over every ReLU of the head at `l` (the
/// scale embedding's and the feed-forward's): where it is tiny, `∂f/∂l`
/// jumps, and two f32 implementations may sit on different sides.
pub fn relu_margin(w: &HeadWeights, l: &[f32]) -> f64 {
    let x: Vec<f64> = l.iter().map(|&v| v as f64).collect();
    reference_forward(w, &x).1
}

/// `(value, relu margin)`.
fn reference_forward(w: &HeadWeights, l: &[f64]) -> (f64, f64) {
    let mut margin = f64::INFINITY;
    let t = &w.tensors;
    let (h1, d, f, heads) = (w.dims.h1, w.dims.d, w.dims.f, w.dims.heads);
    let k = w.num_tasks;
    let dh = d / heads;
    let tok: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let pre = linear(&t[1], Some(&t[2]), &[l[i]], h1);
            margin = pre.iter().fold(margin, |m, v| m.min(v.abs()));
            let hid: Vec<f64> = pre.into_iter().map(|v| v.max(0.0)).collect();
            let mut y = linear(&t[3], Some(&t[4]), &hid, d);
            for c in 0..d {
                y[c] += t[0][i * d + c] as f64;
            }
            y
        })
        .collect();
    let qkv: Vec<Vec<f64>> = tok
        .iter()
        .map(|x| linear(&t[5], Some(&t[6]), x, 3 * d))
        .collect();
    let mut att = vec![vec![0.0; d]; k];
    for h in 0..heads {
        for i in 0..k {
            let s: Vec<f64> = (0..k)
                .map(|j| {
                    (0..dh)
                        .map(|c| qkv[i][h * dh + c] * qkv[j][d + h * dh + c])
                        .sum::<f64>()
                        / (dh as f64).sqrt()
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..dh {
                att[i][h * dh + c] = (0..k).map(|j| e[j] / z * qkv[j][2 * d + h * dh + c]).sum();
            }
        }
    }
    let mut mean = vec![0.0; d];
    for i in 0..k {
        let o = linear(&t[7], Some(&t[8]), &att[i], d);
        let r1: Vec<f64> = (0..d).map(|c| tok[i][c] + o[c]).collect();
        let x1 = layer_norm(&r1, &t[13], &t[14]);
        let pre = linear(&t[9], Some(&t[10]), &x1, f);
        margin = pre.iter().fold(margin, |m, v| m.min(v.abs()));
        let ff: Vec<f64> = pre.into_iter().map(|v| v.max(0.0)).collect();
        let f2 = linear(&t[11], Some(&t[12]), &ff, d);
        let r2: Vec<f64> = (0..d).map(|c| x1[c] + f2[c]).collect();
        let x2 = layer_norm(&r2, &t[15], &t[16]);
        for c in 0..d {
            mean[c] += x2[c] / k as f64;
        }
    }
    ((0..d).map(|c| mean[c] * t[17][c] as f64).sum(), margin)
}

/// The head's value and `∂f/∂l` (central differences in f64, step 1e-6·max(1, |l_k|)).
pub fn reference_evaluation(w: &HeadWeights, l: &[f32]) -> (f64, Vec<f64>) {
    let x: Vec<f64> = l.iter().map(|&v| v as f64).collect();
    let value = reference_value(w, &x);
    let grad = (0..x.len())
        .map(|i| {
            let h = 1e-6 * x[i].abs().max(1.0);
            let mut p = x.clone();
            p[i] += h;
            let fp = reference_value(w, &p);
            p[i] -= 2.0 * h;
            let fm = reference_value(w, &p);
            (fp - fm) / (2.0 * h)
        })
        .collect();
    (value, grad)
}

/// Random loss vectors: log-uniform over [e^-3, e^2.5] (~0.05 .. 12).
pub fn random_losses(k: usize, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..k).map(|_| rng.gen_range(-3.0f32..2.5).exp()).collect())
        .collect()
}

/// `|a - b| / max(|b|, floor)`.
pub fn rel(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / b.abs().max(floor)
}

/// `max_k |a_k - b_k| / max(max_k |b_k|, floor)`: the error of a weight
/// vector relative to its largest entry.
pub fn rel_vec(a: &[f64], b: &[f64], floor: f64) -> f64 {
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}
