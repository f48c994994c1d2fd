//! Log-softmax and cross-entropy as one op: `mean_i Σ_j −t_ij log
//! softmax(x_i)_j`, forward one pass over the logits (each row's maximum,
//! then its log-sum-exp and its loss), backward one pass
//! (`dx_ij += dL/n · (p_ij Σ_j t_ij − t_ij)`).
//!
//! dfdx's `cross_entropy_with_logits_loss` is a log-softmax (a max, a
//! subtraction, an exponential, a sum, a log, a subtraction), a product
//! with the targets and a mean: one buffer per op, forward and backward.

use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use crate::tensor::Targets;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// Per row of `x` (rows of `k`): writes `p = softmax(x_i)` and returns the
/// summed loss `Σ_i Σ_j −t_ij log p_ij` (soft targets) or `Σ_i −log p_{i,c_i}`.
pub fn forward_rows(x: &[f32], k: usize, targets: &Targets<'_>, p: &mut [f32]) -> f32 {
    let mut total = 0.0f32;
    for (i, (xr, pr)) in x.chunks_exact(k).zip(p.chunks_exact_mut(k)).enumerate() {
        let m = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut s = 0.0;
        for (p, &x) in pr.iter_mut().zip(xr) {
            *p = (x - m).exp();
            s += *p;
        }
        let inv = 1.0 / s;
        for p in pr.iter_mut() {
            *p *= inv;
        }
        let lse = m + s.ln();
        total += match targets {
            Targets::Soft(t) => t[i * k..(i + 1) * k]
                .iter()
                .zip(xr)
                .map(|(t, x)| t * (lse - x))
                .sum::<f32>(),
            Targets::Classes(c) => lse - xr[c[i]],
        };
    }
    total
}

/// `dx_ij += scale · (p_ij Σ_j t_ij − t_ij)` per row of `k`.
pub fn backward_rows(p: &[f32], k: usize, targets: &Targets<'_>, scale: f32, dx: &mut [f32]) {
    for (i, (pr, dr)) in p.chunks_exact(k).zip(dx.chunks_exact_mut(k)).enumerate() {
        match targets {
            Targets::Soft(t) => {
                let t = &t[i * k..(i + 1) * k];
                let tsum: f32 = t.iter().sum();
                for j in 0..k {
                    dr[j] += scale * (pr[j] * tsum - t[j]);
                }
            }
            Targets::Classes(c) => {
                for j in 0..k {
                    dr[j] += scale * pr[j];
                }
                dr[c[i]] -= scale;
            }
        }
    }
}

/// What the backward keeps of the targets: soft targets copied, or the
/// class of each row.
enum Kept {
    Soft(Scratch),
    Classes(Vec<usize>),
}

/// The mean cross-entropy of `logits` (`n` rows of `k` classes) against
/// `targets`, on the CPU; see the module docs.
///
/// Panics if the targets' size differs from the logits' or a class is out
/// of range (a programming error of the caller).
pub fn cross_entropy_with_logits<T: Tape<f32, Cpu>>(
    logits: Tensor<(usize, usize), f32, Cpu, T>,
    targets: Targets<'_>,
) -> Tensor<Rank0, f32, Cpu, T> {
    let (n, k) = *logits.shape();
    targets.check(n, k);
    let (x, mut tape) = logits.contiguous().split_tape();
    let xv = host_copy(&x);
    let mut p = Scratch::take(n * k);
    let total = if k > 0 {
        forward_rows(&xv, k, &targets, &mut p)
    } else {
        0.0
    };
    drop(xv);
    let out = device_tensor(x.device(), &[total / n.max(1) as f32], ());
    if T::OWNS_TAPE && n > 0 && k > 0 {
        let kept = match targets {
            Targets::Soft(t) => {
                let mut s = Scratch::take(t.len());
                s.copy_from_slice(t);
                Kept::Soft(s)
            }
            Targets::Classes(c) => Kept::Classes(c.to_vec()),
        };
        let (xg, og) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dl| {
                    let targets = match &kept {
                        Kept::Soft(s) => Targets::Soft(s),
                        Kept::Classes(c) => Targets::Classes(c),
                    };
                    let dx = grads.get_or_alloc_mut(&xg)?;
                    backward_rows(&p, k, &targets, dl[0] / n as f32, dx);
                    Ok(())
                },
            )
        });
    }
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::fused::testing::{assert_close, central_difference, random};

    fn soft_targets(n: usize, k: usize, seed: u64) -> Vec<f32> {
        let raw: Vec<f32> = random(n * k, seed, 1.0).iter().map(|v| v.exp()).collect();
        raw.chunks(k)
            .flat_map(|r| {
                let s: f32 = r.iter().sum();
                r.iter().map(move |v| v / s)
            })
            .collect()
    }

    /// Value and gradient of `3 · CE(x, t)`, fused or by dfdx's
    /// `cross_entropy_with_logits_loss` (the reference).
    fn run(fused: bool, n: usize, k: usize, t: &Targets<'_>, seed: u64) -> [Vec<f32>; 2] {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(random(n * k, seed, 4.0), (n, k));
        let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let l = if fused {
            cross_entropy_with_logits(xt, t.clone())
        } else {
            let dense = dev.tensor_from_vec(t.dense(n, k), (n, k));
            cross_entropy_with_logits_loss(xt, dense)
        };
        let lv = vec![l.array()];
        let g = (l * 3.0).backward();
        [lv, g.get(&x).as_vec()]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (n, k, seed) in [(1, 1, 1), (4, 4, 2), (32, 32, 3), (7, 100, 4), (256, 10, 5)] {
            let soft = soft_targets(n, k, seed + 10);
            let classes: Vec<usize> = (0..n).map(|i| (i * 7 + seed as usize) % k).collect();
            for t in [Targets::Soft(&soft), Targets::Classes(&classes)] {
                let (f, g) = (run(true, n, k, &t, seed), run(false, n, k, &t, seed));
                assert_close(&f[0], &g[0], 1e-5, &format!("loss {n}x{k}"));
                assert_close(&f[1], &g[1], 1e-5, &format!("gradient {n}x{k}"));
            }
        }
    }

    #[test]
    fn a_transposed_view_is_read_by_its_values() {
        // The contrastive losses score Sᵀ too: a permuted view, whose
        // storage is not in row order.
        let dev = Cpu::default();
        let n = 6;
        let x = dev.tensor_from_vec(random(n * n, 31, 3.0), (n, n));
        let classes: Vec<usize> = (0..n).collect();
        let eye = dev.tensor_from_vec(Targets::Classes(&classes).dense(n, n), (n, n));
        let run = |fused: bool| {
            let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
            let xt = xt.permute::<_, Axes2<1, 0>>();
            let l = if fused {
                cross_entropy_with_logits(xt, Targets::Classes(&classes))
            } else {
                cross_entropy_with_logits_loss(xt.contiguous(), eye.clone())
            };
            let v = l.array();
            [vec![v], l.backward().get(&x).as_vec()]
        };
        let (f, g) = (run(true), run(false));
        assert_close(&f[0], &g[0], 1e-5, "loss of Sᵀ");
        assert_close(&f[1], &g[1], 1e-5, "gradient through Sᵀ");
    }

    #[test]
    fn gradient_matches_central_differences_in_f64() {
        let (n, k) = (5, 7);
        let x = random(n * k, 21, 3.0);
        let soft = soft_targets(n, k, 22);
        let loss = |p: &[f64]| -> f64 {
            p.chunks(k)
                .enumerate()
                .map(|(i, r)| {
                    let m = r.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    let lse = m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    (0..k)
                        .map(|j| soft[i * k + j] as f64 * (lse - r[j]))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / n as f64
        };
        let t = Targets::Soft(&soft);
        let mut p = vec![0.0; n * k];
        let total = forward_rows(&x, k, &t, &mut p);
        let at: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        assert!(((total / n as f32) as f64 - loss(&at)).abs() < 1e-5 * loss(&at).abs());
        let mut dx = vec![0.0; n * k];
        backward_rows(&p, k, &t, 1.0 / n as f32, &mut dx);
        let fd: Vec<f32> = central_difference(loss, &at, 1e-6)
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_close(
            &dx,
            &fd,
            1e-4,
            "cross-entropy gradient vs central differences",
        );
    }

    #[test]
    fn extreme_logits_give_a_finite_loss() {
        let mut p = [0.0; 3];
        let l = forward_rows(&[1e30, -1e30, 0.0], 3, &Targets::Classes(&[0]), &mut p);
        assert_eq!((l, p), (0.0, [1.0, 0.0, 0.0]));
    }
}
