//! Attention's `softmax(scale · x)` over the last axis, forward and
//! backward each one pass over the rows.
//!
//! dfdx's graph for it (a scalar product, then `softmax` as `exp(x −
//! logsumexp)`, itself a max, a subtraction, an exponential and a sum)
//! allocates and walks a buffer per op. The backbones' attention has no
//! mask (every sequence is full length), so none is taken.

use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use crate::tensor::vector::dot;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// `y = softmax(scale · x)` over rows of width `d`.
pub fn forward_rows(x: &[f32], scale: f32, d: usize, y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let m = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
        let mut s = 0.0;
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = (x * scale - m).exp();
            s += *y;
        }
        let inv = 1.0 / s;
        for y in yr.iter_mut() {
            *y *= inv;
        }
    }
}

/// `dx += scale · y ⊙ (dy − ⟨dy, y⟩)` over rows of width `d`.
pub fn backward_rows(y: &[f32], dy: &[f32], scale: f32, d: usize, dx: &mut [f32]) {
    for ((yr, dyr), dxr) in y
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let c = dot(dyr, yr);
        for j in 0..d {
            dxr[j] += scale * yr[j] * (dyr[j] - c);
        }
    }
}

/// `softmax(scale · x)` over the last axis of `x`, on the CPU; see the
/// module docs.
pub fn scaled_softmax<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    scale: f32,
) -> Tensor<S, f32, Cpu, T> {
    let x = x.contiguous();
    let shape = *x.shape();
    let d = shape.concrete().into_iter().last().unwrap_or(1);
    let n = shape.num_elements();
    let (x, mut tape) = x.split_tape();
    let xv = host_copy(&x);
    let mut y = Scratch::take(n);
    if d > 0 {
        forward_rows(&xv, scale, d, &mut y);
    }
    drop(xv);
    let out = device_tensor(x.device(), &y, shape);
    if T::OWNS_TAPE && d > 0 {
        let (xg, og) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    backward_rows(&y, dy, scale, d, grads.get_or_alloc_mut(&xg)?);
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

    /// Value and gradient of `Σ r ⊙ softmax(scale · x)` over `(b, h, s, s)`,
    /// fused or by dfdx's graph (the reference).
    fn run(
        fused: bool,
        dims: (usize, usize, usize, usize),
        scale: f32,
        seed: u64,
    ) -> [Vec<f32>; 2] {
        let dev = Cpu::default();
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let x = dev.tensor_from_vec(random(n, seed, 3.0), dims);
        let r = dev.tensor_from_vec(random(n, seed + 1, 1.0), dims);
        let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let y = if fused {
            scaled_softmax(xt, scale)
        } else {
            (xt * scale).softmax::<Axis<3>>()
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y * r).sum::<Rank0, _>().backward();
        [yv, g.get(&x).as_vec()]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (dims, scale, seed) in [
            ((1, 1, 1, 1), 1.0, 1),
            ((2, 4, 7, 7), 0.25, 2),
            ((3, 2, 24, 24), 0.35, 3),
            ((1, 3, 5, 40), 2.0, 4),
            ((2, 2, 3, 6), -0.5, 5),
        ] {
            let (f, g) = (run(true, dims, scale, seed), run(false, dims, scale, seed));
            assert_close(&f[0], &g[0], 1e-5, &format!("softmax {dims:?}"));
            assert_close(&f[1], &g[1], 1e-5, &format!("softmax gradient {dims:?}"));
        }
    }

    #[test]
    fn gradient_matches_central_differences_in_f64() {
        let (rows, d, scale) = (3, 9, 0.4f32);
        let x = random(rows * d, 11, 3.0);
        let r = random(rows * d, 12, 1.0);
        let loss = |p: &[f64]| -> f64 {
            p.chunks(d)
                .enumerate()
                .map(|(i, row)| {
                    let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    let e: Vec<f64> = row.iter().map(|v| ((v - m) * scale as f64).exp()).collect();
                    let s: f64 = e.iter().sum();
                    e.iter()
                        .enumerate()
                        .map(|(j, e)| r[i * d + j] as f64 * e / s)
                        .sum::<f64>()
                })
                .sum()
        };
        let mut y = vec![0.0; rows * d];
        forward_rows(&x, scale, d, &mut y);
        let mut dx = vec![0.0; rows * d];
        backward_rows(&y, &r, scale, d, &mut dx);
        let at: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let fd: Vec<f32> = central_difference(loss, &at, 1e-6)
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_close(&dx, &fd, 1e-4, "softmax gradient vs central differences");
    }

    #[test]
    fn large_logits_stay_finite() {
        let mut y = [0.0; 3];
        forward_rows(&[1e30, 0.0, -1e30], 1.0, 3, &mut y);
        assert_eq!(y, [1.0, 0.0, 0.0]);
    }
}
