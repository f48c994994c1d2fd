//! The gather of a convolution's taps (an im2col): output row `r` is the
//! input rows `table[r·taps .. (r+1)·taps]` side by side, where an index
//! past the input's last row reads zeros (the padding). Forward one copy
//! per tap row, backward one add per tap row into the input's gradient.
//!
//! dfdx's `gather` for it walks every element with its strides (a quarter
//! of a digits step forward, another quarter backward), and needs the
//! input concatenated with a zero row first.

use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;
use std::sync::Arc;

/// `out[r] = [x[table[r·taps]], …, x[table[r·taps + taps − 1]]]` over rows
/// of width `c` (an index `≥ x.len() / c` reads zeros).
pub fn forward_rows(x: &[f32], c: usize, table: &[usize], out: &mut [f32]) {
    let n = x.len() / c;
    for (&src, dst) in table.iter().zip(out.chunks_exact_mut(c)) {
        if src < n {
            dst.copy_from_slice(&x[src * c..(src + 1) * c]);
        } else {
            dst.fill(0.0);
        }
    }
}

/// `dx[table[i]] += dout[i]` over rows of width `c` (padding taps dropped).
pub fn backward_rows(dout: &[f32], c: usize, table: &[usize], dx: &mut [f32]) {
    let n = dx.len() / c;
    for (&src, g) in table.iter().zip(dout.chunks_exact(c)) {
        if src < n {
            for (d, g) in dx[src * c..(src + 1) * c].iter_mut().zip(g) {
                *d += g;
            }
        }
    }
}

/// The im2col of `x` (`n` rows of `c`) by `table` with `taps` entries per
/// output row: `(table.len() / taps, taps · c)`; see the module docs.
pub fn im2col<T: Tape<f32, Cpu>>(
    x: Tensor<(usize, usize), f32, Cpu, T>,
    table: Arc<[usize]>,
    taps: usize,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let x = x.contiguous();
    let (_, c) = *x.shape();
    assert!(
        taps > 0 && table.len() % taps == 0,
        "im2col table of {} entries for {taps} taps",
        table.len()
    );
    let shape = (table.len() / taps, taps * c);
    let (x, mut tape) = x.split_tape();
    let xv = host_copy(&x);
    let mut out = Scratch::take(table.len() * c);
    forward_rows(&xv, c, &table, &mut out);
    drop(xv);
    let out = device_tensor(x.device(), &out, shape);
    if T::OWNS_TAPE {
        let (xg, og) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dout| {
                    backward_rows(dout, c, &table, grads.get_or_alloc_mut(&xg)?);
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
    use crate::tensor::fused::testing::{assert_close, random};

    /// A table of `rows` output rows by `taps`, with indices up to `n`
    /// (`n` = padding), repeats included.
    fn table(rows: usize, taps: usize, n: usize, seed: u64) -> Vec<usize> {
        random(rows * taps, seed, 1.0)
            .iter()
            .map(|v| ((v + 1.0) * 0.5 * (n + 1) as f32) as usize % (n + 1))
            .collect()
    }

    /// Value and gradient of `Σ r ⊙ im2col(x)`, fused, or by dfdx's graph
    /// (concatenate a zero row, gather, reshape): the reference.
    fn run(fused: bool, n: usize, c: usize, taps: usize, rows: usize, seed: u64) -> [Vec<f32>; 2] {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(random(n * c, seed, 1.0), (n, c));
        let t = table(rows, taps, n, seed + 1);
        let r = dev.tensor_from_vec(random(rows * taps * c, seed + 2, 1.0), (rows, taps * c));
        let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let y = if fused {
            im2col(xt, t.into(), taps)
        } else {
            let zero: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(1, c));
            let padded = (xt, zero).concat_along(Axis::<0>);
            let idx = dev.tensor_from_vec(t, (rows * taps,));
            let g: Tensor<(usize, usize), f32, Cpu, _> = padded.gather(idx);
            g.reshape_like(&(rows, taps * c))
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y * r).sum::<Rank0, _>().backward();
        [yv, g.get(&x).as_vec()]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (n, c, taps, rows, seed) in [
            (1, 1, 1, 1, 1),
            (5, 3, 9, 5, 2),
            (64, 8, 9, 64, 3),
            (7, 2, 4, 20, 4),
        ] {
            let (f, g) = (
                run(true, n, c, taps, rows, seed),
                run(false, n, c, taps, rows, seed),
            );
            // A gather copies and its backward adds: equal to the last bit
            // but for the order of repeated adds.
            assert_close(&f[0], &g[0], 0.0, "im2col values");
            assert_close(&f[1], &g[1], 1e-6, "im2col gradient");
        }
    }

    #[test]
    fn gradient_is_the_count_of_reads() {
        // d/dx Σ im2col(x) = how many times each row is read: the exact
        // derivative of a linear map, which a central difference would
        // only approximate.
        let x = random(6, 1, 1.0); // 3 rows of 2
        let t = [0, 3, 2, 2, 0, 0];
        let mut out = vec![9.0; 12];
        forward_rows(&x, 2, &t, &mut out);
        assert_eq!(&out[2..4], &[0.0, 0.0], "index 3 = padding reads zeros");
        let mut dx = vec![0.5; 6];
        backward_rows(&[1.0; 12], 2, &t, &mut dx);
        assert_eq!(dx, vec![3.5, 3.5, 0.5, 0.5, 2.5, 2.5]);
    }
}
