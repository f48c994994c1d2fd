//! A convolution as im2col then a matrix product, as one op that keeps
//! neither a large im2col matrix nor its gradient.
//!
//! As two ops (`im2col`, then dfdx's `matmul`), the tape holds every
//! convolution's `(rows, taps · c)` column matrix from the forward pass to
//! its backward, and dfdx's gradient map keeps the matrix's gradient until
//! the whole backward ends: for the digits classifier at width 64, batch
//! 128, four tasks, that is sixteen 19 MB matrices at once (design §8).
//! This op keeps its inputs, and the column matrix only when it is small
//! (at most [`KEEP_COLUMNS`] values: re-gathering would cost more time
//! than the memory is worth); otherwise its backward gathers the columns
//! again into a pooled buffer. That buffer then holds the columns'
//! gradient, given back when the backward op ends. The products run
//! through `gemm` with the very arguments dfdx 0.13's CPU `matmul` passes
//! (`dfdx-0.13.0/src/tensor_ops/matmul/cpu_kernel.rs`), so values and
//! gradients are those of the two ops to the bit.

use super::im2col::{backward_rows, forward_rows};
use super::matmul::{linear_forward, linear_weight_grad, matmul};
use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;
use std::sync::Arc;

/// The largest column matrix (values) kept from the forward pass for the
/// backward: 1 Mi values, 4 MiB (the default digits run, batch 20 at width
/// 16, keeps each of its own, 0.7 MiB; at width 64, batch 128, each is 19
/// MiB and gathered again).
pub const KEEP_COLUMNS: usize = 1 << 20;

/// `im2col(x, table, taps) · wᵀ`: `x` is `n` rows of `c`, `w` is
/// `o × taps · c` (columns ordered as the im2col's); the result is
/// `(table.len() / taps, o)`. See the module docs.
pub fn im2col_matmul<T: Tape<f32, Cpu>>(
    x: Tensor<(usize, usize), f32, Cpu, T>,
    table: Arc<[usize]>,
    taps: usize,
    w: Tensor<(usize, usize), f32, Cpu, T>,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    im2col_matmul_keeping(x, table, taps, w, KEEP_COLUMNS)
}

/// [`im2col_matmul`], keeping column matrices of at most `keep` values.
fn im2col_matmul_keeping<T: Tape<f32, Cpu>>(
    x: Tensor<(usize, usize), f32, Cpu, T>,
    table: Arc<[usize]>,
    taps: usize,
    w: Tensor<(usize, usize), f32, Cpu, T>,
    keep: usize,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let (x, w) = (x.contiguous(), w.contiguous());
    let c = x.shape().1;
    let (o, k) = *w.shape();
    assert!(
        taps > 0 && table.len() % taps == 0 && k == taps * c,
        "im2col table of {} entries, {taps} taps of {c} channels, weight {o} x {k}",
        table.len()
    );
    let rows = table.len() / taps;
    let (x, xt) = x.split_tape();
    let (w, wt) = w.split_tape();
    let mut tape = xt.merge(wt);
    let back_table = table.clone();
    // The im2col matrix, row-major `rows × k`.
    let cols = move |x: &Tensor<(usize, usize), f32, Cpu>| {
        let xv = host_copy(x);
        let mut cols = Scratch::take(rows * k);
        forward_rows(&xv, c, &table, &mut cols);
        cols
    };
    let wv = host_copy(&w);
    let mut y = Scratch::take(rows * o);
    let a = cols(&x);
    linear_forward(&a, &wv, (rows, k, o), &mut y);
    drop(wv);
    let out = device_tensor(x.device(), &y, (rows, o));
    drop(y);
    let kept = (T::OWNS_TAPE && a.len() <= keep).then_some(a);
    if T::OWNS_TAPE && rows > 0 && o > 0 && k > 0 {
        let (xg, wg, og) = (x.ghost(), w.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    let mut a = kept.unwrap_or_else(|| cols(&x));
                    let wv = host_copy(&w);
                    linear_weight_grad(dy, &a, (rows, k, o), grads.get_or_alloc_mut(&wg)?);
                    // The columns' gradient, dy w, in their buffer. dfdx adds
                    // it to a zeroed gradient; written over, it is the same
                    // but for the sign of exact zeros.
                    // SAFETY: `dy` is rows × o, `wv` is o × k, `a` rows × k.
                    unsafe {
                        matmul(
                            (rows, o, k),
                            false,
                            dy.as_ptr(),
                            [o, 1],
                            wv.as_ptr(),
                            [k, 1],
                            a.as_mut_ptr(),
                            [k, 1],
                        )
                    };
                    backward_rows(&a, c, &back_table, grads.get_or_alloc_mut(&xg)?);
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
    use crate::tensor::fused::im2col;
    use crate::tensor::fused::testing::random;

    /// Value and gradients of `Σ r ⊙ (im2col(x) · wᵀ)`, by this op or by
    /// the two ops it replaces (the reference).
    fn run(fused: Option<usize>, n: usize, c: usize, o: usize, seed: u64) -> [Vec<f32>; 3] {
        let dev = Cpu::default();
        let taps = 9;
        let table: Arc<[usize]> = (0..n * taps)
            .map(|i| (i * 7 + seed as usize) % (n + 1))
            .collect();
        let x = dev.tensor_from_vec(random(n * c, seed, 1.0), (n, c));
        let w = dev.tensor_from_vec(random(o * taps * c, seed + 1, 1.0), (o, taps * c));
        let r = dev.tensor_from_vec(random(n * o, seed + 2, 1.0), (n, o));
        let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let wt = w.leaky_trace();
        let y = if let Some(keep) = fused {
            im2col_matmul_keeping(xt, table, taps, wt, keep)
        } else {
            im2col(xt, table, taps).matmul(wt.permute())
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y * r).sum::<Rank0, _>().backward();
        [yv, g.get(&x).as_vec(), g.get(&w).as_vec()]
    }

    #[test]
    fn values_and_gradients_are_those_of_im2col_then_matmul_to_the_bit() {
        for (n, c, o, seed) in [(1, 1, 1, 1), (5, 3, 2, 2), (64, 8, 16, 3), (200, 16, 32, 4)] {
            // Columns kept, and gathered again.
            for keep in [usize::MAX, 0] {
                let (f, g) = (run(Some(keep), n, c, o, seed), run(None, n, c, o, seed));
                for (what, a, b) in [
                    ("values", &f[0], &g[0]),
                    ("dx", &f[1], &g[1]),
                    ("dw", &f[2], &g[2]),
                ] {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(a),
                        bits(b),
                        "{what} at n {n}, c {c}, o {o}, keep {keep}"
                    );
                }
            }
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        // f(x, w) = Σ r ⊙ (im2col(x) wᵀ) is bilinear: a central difference
        // in f64 along a direction of x or of w is exact but for round-off.
        let (n, c, o) = (6, 2, 3);
        let dev = Cpu::default();
        let table: Arc<[usize]> = (0..n * 9).map(|i| (i * 5) % (n + 1)).collect();
        let (xs, ws, rs) = (
            random(n * c, 11, 1.0),
            random(o * 9 * c, 12, 1.0),
            random(n * o, 13, 1.0),
        );
        let f64_value = |x: &[f64], w: &[f64]| -> f64 {
            let mut s = 0.0f64;
            for i in 0..n {
                for p in 0..o {
                    let mut y = 0.0f64;
                    for t in 0..9 {
                        let src = table[i * 9 + t];
                        for ch in 0..c {
                            let xv = if src < n { x[src * c + ch] } else { 0.0 };
                            y += xv * w[p * 9 * c + t * c + ch];
                        }
                    }
                    s += rs[i * o + p] as f64 * y;
                }
            }
            s
        };
        let x = dev.tensor_from_vec(xs.clone(), (n, c));
        let w = dev.tensor_from_vec(ws.clone(), (o, 9 * c));
        let r = dev.tensor_from_vec(rs.clone(), (n, o));
        // Gathered again in the backward (the kept path is held to it above).
        let y = im2col_matmul_keeping(x.leaky_trace(), table.clone(), 9, w.leaky_trace(), 0);
        let g = (y * r).sum::<Rank0, _>().backward();
        let (dx, dw) = (g.get(&x).as_vec(), g.get(&w).as_vec());
        let (vx, vw) = (random(n * c, 14, 1.0), random(o * 9 * c, 15, 1.0));
        let eps = 1e-3f64;
        let moved = |v: &[f32], d: &[f32], s: f64| -> Vec<f64> {
            v.iter()
                .zip(d)
                .map(|(&a, &b)| a as f64 + s * b as f64)
                .collect()
        };
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
        };
        let (x0, w0) = (moved(&xs, &vx, 0.0), moved(&ws, &vw, 0.0));
        let fd_x = (f64_value(&moved(&xs, &vx, eps), &w0) - f64_value(&moved(&xs, &vx, -eps), &w0))
            / (2.0 * eps);
        let fd_w = (f64_value(&x0, &moved(&ws, &vw, eps)) - f64_value(&x0, &moved(&ws, &vw, -eps)))
            / (2.0 * eps);
        for (what, fd, exact) in [("x", fd_x, dot(&dx, &vx)), ("w", fd_w, dot(&dw, &vw))] {
            let rel = (fd - exact).abs() / fd.abs().max(1e-6);
            assert!(
                rel < 1e-4,
                "d/d{what}: central difference {fd}, gradient {exact}"
            );
        }
    }
}
