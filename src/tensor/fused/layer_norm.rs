//! Layer normalisation over the last axis with a learned scale and shift,
//! `y = (x − mean) / sqrt(var + eps) ⊙ γ + β` (biased variance), forward
//! and backward each one pass over the rows.
//!
//! dfdx's graph for it (`normalize` then a broadcast product and sum) is
//! ten element-wise ops, each allocating its output and walking it, with
//! as many in the backward.

use super::tape::{add_into, device_tensor, host_copy, with_output_grad};
use super::Scratch;
use crate::tensor::vector::{dot, sum, sum_sq_dev};
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// The forward over rows of width `g.len()`: writes `y`, and `x̂` and each
/// row's `sqrt(var + eps)` for the backward.
pub fn forward_rows(
    x: &[f32],
    g: &[f32],
    b: &[f32],
    eps: f32,
    y: &mut [f32],
    xhat: &mut [f32],
    std: &mut [f32],
) {
    let d = g.len();
    for (r, row) in x.chunks_exact(d).enumerate() {
        let mean = sum(row) / d as f32;
        let s = (sum_sq_dev(row, mean) / d as f32 + eps).sqrt();
        std[r] = s;
        let (xh, yr) = (&mut xhat[r * d..(r + 1) * d], &mut y[r * d..(r + 1) * d]);
        for j in 0..d {
            xh[j] = (row[j] - mean) / s;
            yr[j] = xh[j] * g[j] + b[j];
        }
    }
}

/// The backward over rows: `dx += (γ⊙dy − mean(γ⊙dy) − x̂ mean(γ⊙dy⊙x̂)) / std`,
/// `dγ += Σ_rows dy⊙x̂`, `dβ += Σ_rows dy`.
#[allow(clippy::too_many_arguments)]
pub fn backward_rows(
    dy: &[f32],
    xhat: &[f32],
    std: &[f32],
    g: &[f32],
    dx: &mut [f32],
    dg: &mut [f32],
    db: &mut [f32],
    gdy: &mut [f32],
) {
    let d = g.len();
    for (r, dyr) in dy.chunks_exact(d).enumerate() {
        let xh = &xhat[r * d..(r + 1) * d];
        for j in 0..d {
            gdy[j] = g[j] * dyr[j];
            dg[j] += dyr[j] * xh[j];
            db[j] += dyr[j];
        }
        let m1 = sum(gdy) / d as f32;
        let m2 = dot(gdy, xh) / d as f32;
        let inv = 1.0 / std[r];
        let dxr = &mut dx[r * d..(r + 1) * d];
        for j in 0..d {
            dxr[j] += (gdy[j] - m1 - xh[j] * m2) * inv;
        }
    }
}

/// Layer normalisation of `x` over its last axis (of `γ.len()` values),
/// scaled by `gamma` and shifted by `beta`, on the CPU; see the module docs.
pub fn layer_norm<S: Shape, G: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    gamma: Tensor<G, f32, Cpu, T>,
    beta: Tensor<G, f32, Cpu, T>,
    eps: f32,
) -> Tensor<S, f32, Cpu, T> {
    let (x, gamma, beta) = (x.contiguous(), gamma.contiguous(), beta.contiguous());
    let d = gamma.shape().num_elements();
    let shape = *x.shape();
    let n = shape.num_elements();
    assert!(
        d > 0 && n % d == 0,
        "layer norm of {n} values over rows of {d}"
    );
    let (x, xt) = x.split_tape();
    let (gamma, gt) = gamma.split_tape();
    let (beta, bt) = beta.split_tape();
    let mut tape = xt.merge(gt).merge(bt);
    let xv = host_copy(&x);
    let gv = host_copy(&gamma);
    let bv = host_copy(&beta);
    let mut y = Scratch::take(n);
    let mut xhat = Scratch::take(n);
    let mut std = Scratch::take(n / d);
    forward_rows(&xv, &gv, &bv, eps, &mut y, &mut xhat, &mut std);
    drop((xv, bv));
    let out = device_tensor(x.device(), &y, shape);
    if T::OWNS_TAPE {
        let (xg, gg, bg, og) = (x.ghost(), gamma.ghost(), beta.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    let mut dg = Scratch::zeros(d);
                    let mut db = Scratch::zeros(d);
                    let mut gdy = Scratch::take(d);
                    let dx = grads.get_or_alloc_mut(&xg)?;
                    backward_rows(dy, &xhat, &std, &gv, dx, &mut dg, &mut db, &mut gdy);
                    add_into(grads.get_or_alloc_mut(&gg)?, &dg);
                    add_into(grads.get_or_alloc_mut(&bg)?, &db);
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

    /// dfdx's graph: the reference.
    fn graph<T: Tape<f32, Cpu>>(
        x: Tensor<(usize, usize), f32, Cpu, T>,
        g: Tensor<(usize,), f32, Cpu, T>,
        b: Tensor<(usize,), f32, Cpu, T>,
    ) -> Tensor<(usize, usize), f32, Cpu, T> {
        let shape = *x.shape();
        x.normalize::<Axis<1>>(1e-5) * g.broadcast_like::<_, Axis<0>>(&shape)
            + b.broadcast_like::<_, Axis<0>>(&shape)
    }

    /// Value and gradients of `Σ r ⊙ f(x, γ, β)` for the fused op or the graph.
    fn run(fused: bool, n: usize, d: usize, seed: u64) -> [Vec<f32>; 4] {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(random(n * d, seed, 2.0), (n, d));
        let g = dev.tensor_from_vec(random(d, seed + 1, 1.5), (d,));
        let b = dev.tensor_from_vec(random(d, seed + 2, 1.0), (d,));
        let r = dev.tensor_from_vec(random(n * d, seed + 3, 1.0), (n, d));
        let (xt, gt, bt) = (x.leaky_trace(), g.leaky_trace(), b.leaky_trace());
        let y = if fused {
            layer_norm(xt, gt, bt, 1e-5)
        } else {
            graph(xt, gt, bt)
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let grads = (y * r).sum::<Rank0, _>().backward();
        [
            yv,
            grads.get(&x).as_vec(),
            grads.get(&g).as_vec(),
            grads.get(&b).as_vec(),
        ]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (n, d, seed) in [(1, 1, 1), (3, 5, 2), (7, 64, 3), (40, 33, 4), (2, 100, 5)] {
            let (f, g) = (run(true, n, d, seed), run(false, n, d, seed));
            for (what, a, b) in ["y", "dx", "dgamma", "dbeta"]
                .iter()
                .zip(&f)
                .zip(&g)
                .map(|((w, a), b)| (w, a, b))
            {
                assert_close(a, b, 1e-5, &format!("{what} ({n}x{d})"));
            }
        }
    }

    #[test]
    fn gradients_match_central_differences_in_f64() {
        let (n, d) = (4, 12);
        let x = random(n * d, 7, 2.0);
        let g = random(d, 8, 1.5);
        let b = random(d, 9, 1.0);
        let r = random(n * d, 10, 1.0);
        // The loss `Σ r ⊙ LN(x)` in f64, over x ++ γ ++ β.
        let loss = |p: &[f64]| -> f64 {
            let (x, rest) = p.split_at(n * d);
            let (g, b) = rest.split_at(d);
            let mut l = 0.0;
            for i in 0..n {
                let row = &x[i * d..(i + 1) * d];
                let mean = row.iter().sum::<f64>() / d as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                let s = (var + 1e-5).sqrt();
                for j in 0..d {
                    l += r[i * d + j] as f64 * ((row[j] - mean) / s * g[j] + b[j]);
                }
            }
            l
        };
        let mut y = vec![0.0; n * d];
        let mut xhat = vec![0.0; n * d];
        let mut std = vec![0.0; n];
        forward_rows(&x, &g, &b, 1e-5, &mut y, &mut xhat, &mut std);
        let (mut dx, mut dg, mut db) = (vec![0.0; n * d], vec![0.0; d], vec![0.0; d]);
        backward_rows(
            &r,
            &xhat,
            &std,
            &g,
            &mut dx,
            &mut dg,
            &mut db,
            &mut vec![0.0; d],
        );
        let at: Vec<f64> = x.iter().chain(&g).chain(&b).map(|&v| v as f64).collect();
        let fd = central_difference(loss, &at, 1e-6);
        let exact: Vec<f32> = dx.into_iter().chain(dg).chain(db).collect();
        let fd: Vec<f32> = fd.iter().map(|&v| v as f32).collect();
        assert_close(
            &exact,
            &fd,
            1e-4,
            "layer norm gradient vs central differences",
        );
    }

    #[test]
    fn gradients_add_to_what_is_there() {
        // x used twice: by the fused op and by a plain sum, so its gradient
        // is the sum of both.
        let dev = Cpu::default();
        let (n, d) = (3, 8);
        let x = dev.tensor_from_vec(random(n * d, 1, 1.0), (n, d));
        let g = dev.tensor_from_vec(random(d, 2, 1.0), (d,));
        let b = dev.tensor_from_vec(random(d, 3, 1.0), (d,));
        let xt: Tensor<(usize, usize), f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let both = |fused: bool| {
            let xa = xt.retaped::<OwnedTape<f32, Cpu>>();
            let xb = xt.retaped::<OwnedTape<f32, Cpu>>();
            let (gt, bt) = (g.leaky_trace(), b.leaky_trace());
            let y: Tensor<(usize, usize), f32, Cpu, OwnedTape<f32, Cpu>> = if fused {
                layer_norm(xa, gt, bt, 1e-5)
            } else {
                graph(xa, gt, bt)
            };
            let l = y.square().sum::<Rank0, _>() + xb.sum::<Rank0, _>() * 3.0;
            l.backward().get(&x).as_vec()
        };
        assert_close(&both(true), &both(false), 1e-5, "accumulated dx");
    }
}
