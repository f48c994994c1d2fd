//! A bias added to every row, `y = x + b`: a linear layer's tail.
//! Forward one pass; backward one pass that adds `dy` into `dx` and sums
//! its columns into `db`.
//!
//! dfdx adds a broadcast tensor, and its backward reduces `dy` over the
//! rows through a strided index per element.

use super::tape::{add_into, device_tensor, host_copy, with_output_grad};
use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// `y[r] += b` over rows of `b.len()` (in place: `y` holds `x`).
pub fn forward_rows(y: &mut [f32], b: &[f32]) {
    let d = b.len();
    for yr in y.chunks_exact_mut(d) {
        for j in 0..d {
            yr[j] += b[j];
        }
    }
}

/// `db += Σ_rows dy` over rows of `db.len()`.
pub fn bias_backward_rows(dy: &[f32], db: &mut [f32]) {
    let d = db.len();
    for r in dy.chunks_exact(d) {
        for j in 0..d {
            db[j] += r[j];
        }
    }
}

/// `x + b` with `b` added to every row of `x` (rows of `b.len()`, the
/// last axis), on the CPU; see the module docs.
pub fn add_bias<S: Shape, B: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    b: Tensor<B, f32, Cpu, T>,
) -> Tensor<S, f32, Cpu, T> {
    let (x, b) = (x.contiguous(), b.contiguous());
    let shape = *x.shape();
    let d = b.shape().num_elements();
    let n = shape.num_elements();
    assert_eq!(
        shape.concrete().into_iter().last(),
        Some(d),
        "a bias of {d} for rows of another width"
    );
    let (x, xt) = x.split_tape();
    let (b, bt) = b.split_tape();
    let mut tape = xt.merge(bt);
    let mut y = host_copy(&x);
    let bv = host_copy(&b);
    if d > 0 {
        forward_rows(&mut y, &bv);
    }
    let out = device_tensor(x.device(), &y, shape);
    drop((y, bv));
    if T::OWNS_TAPE && d > 0 && n > 0 {
        let (xg, bg, og) = (x.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    add_into(grads.get_or_alloc_mut(&xg)?, dy);
                    let mut db = Scratch::zeros(d);
                    bias_backward_rows(dy, &mut db);
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
    use crate::tensor::fused::testing::{assert_close, random};

    /// Value and gradients of `Σ r ⊙ (x + b)²`, fused or by dfdx's
    /// broadcast sum (the reference).
    fn run(fused: bool, n: usize, d: usize, seed: u64) -> [Vec<f32>; 3] {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(random(n * d, seed, 2.0), (n, d));
        let b = dev.tensor_from_vec(random(d, seed + 1, 1.0), (d,));
        let r = dev.tensor_from_vec(random(n * d, seed + 2, 1.0), (n, d));
        let xt: Tensor<_, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
        let bt = b.leaky_trace();
        let y = if fused {
            add_bias(xt, bt)
        } else {
            xt + bt.broadcast_like::<_, Axis<0>>(&(n, d))
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y.square() * r).sum::<Rank0, _>().backward();
        [yv, g.get(&x).as_vec(), g.get(&b).as_vec()]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (n, d, seed) in [(1, 1, 1), (5, 3, 2), (64, 32, 3), (300, 10, 4)] {
            let (f, g) = (run(true, n, d, seed), run(false, n, d, seed));
            assert_close(&f[0], &g[0], 0.0, "x + b");
            assert_close(&f[1], &g[1], 0.0, "dx");
            assert_close(&f[2], &g[2], 1e-5, "db");
        }
    }

    #[test]
    fn the_bias_gradient_is_the_column_sum() {
        // The exact derivative of a linear map (a central difference would
        // only approximate it): d/db Σ r ⊙ (x + b) = Σ_rows r.
        let mut db = vec![1.0, 2.0];
        bias_backward_rows(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0], &mut db);
        assert_eq!(db, vec![7.0, 62.0]);
        let mut y = vec![1.0, 2.0, 3.0, 4.0];
        forward_rows(&mut y, &[0.5, -1.0]);
        assert_eq!(y, vec![1.5, 1.0, 3.5, 3.0]);
    }
}
