//! A linear layer, `y = x Wᵀ + b`, as one op: the product runs on `gemm`
//! with the bias in its output, and the backward accumulates `dx += dy W`
//! and `dW += dyᵀ x` straight into the gradient buffers, and `db` in one
//! pass over `dy`.
//!
//! dfdx records the same layer as a product and a broadcast add, and the
//! product's backward always computes both input gradients: for a layer
//! over constant rows (the video frames' embedding, 768 pixels wide) the
//! input's gradient was a product as large as the forward, and thrown away.
//! Here `x` may carry no tape, and then its gradient is not computed.

use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// `dst (m × n, row-major) += a · b` where `a` is `m × k` and `b` is
/// `k × n`, each given by its row and column strides.
///
/// # Safety
/// Every index the strides reach must lie inside its slice; the callers
/// pass dense row-major or transposed views of slices of the right length.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_acc(
    (m, k, n): (usize, usize, usize),
    dst: &mut [f32],
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    accumulate: bool,
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    debug_assert!(k == 0 || n == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    // As dfdx's own products: rayon's pool (sized by `tensor::threads`).
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        dst.as_mut_ptr(),
        1,
        n as isize,
        accumulate,
        a.as_ptr(),
        a_cs as isize,
        a_rs as isize,
        b.as_ptr(),
        b_cs as isize,
        b_rs as isize,
        if accumulate { 1.0 } else { 0.0 },
        1.0,
        false,
        false,
        false,
        parallelism,
    );
}

/// `y = x Wᵀ` for `x` (`n × i`) and `w` (`o × i`), into `y` (`n × o`).
pub fn forward_rows(x: &[f32], w: &[f32], (n, i, o): (usize, usize, usize), y: &mut [f32]) {
    assert!(x.len() == n * i && w.len() == o * i && y.len() == n * o);
    // SAFETY: dense views of slices whose lengths are checked above.
    unsafe { gemm_acc((n, i, o), y, x, (i, 1), w, (1, i), false) }
}

/// `dx += dy W` (`n × i`) for `dy` (`n × o`) and `w` (`o × i`).
pub fn input_grad_rows(dy: &[f32], w: &[f32], (n, i, o): (usize, usize, usize), dx: &mut [f32]) {
    assert!(dy.len() == n * o && w.len() == o * i && dx.len() == n * i);
    // SAFETY: dense views of slices whose lengths are checked above.
    unsafe { gemm_acc((n, o, i), dx, dy, (o, 1), w, (i, 1), true) }
}

/// `dw += dyᵀ x` (`o × i`) for `dy` (`n × o`) and `x` (`n × i`).
pub fn weight_grad_rows(dy: &[f32], x: &[f32], (n, i, o): (usize, usize, usize), dw: &mut [f32]) {
    assert!(dy.len() == n * o && x.len() == n * i && dw.len() == o * i);
    // SAFETY: a transposed dense view of `dy` and a dense one of `x`,
    // lengths checked above.
    unsafe { gemm_acc((o, n, i), dw, dy, (1, o), x, (i, 1), true) }
}

/// `x Wᵀ + b` for rows `x` (`n × i`), `w` (`o × i`) and `b` (`o`), on
/// the CPU, as one op on `w`'s tape; see the module docs. `x` may be on
/// the same tape (its gradient is then computed) or on none.
pub fn linear<X: Tape<f32, Cpu>, T: Tape<f32, Cpu> + Merge<X>>(
    x: Tensor<(usize, usize), f32, Cpu, X>,
    w: Tensor<(usize, usize), f32, Cpu, T>,
    b: Tensor<(usize,), f32, Cpu, T>,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let (x, w, b) = (x.contiguous(), w.contiguous(), b.contiguous());
    let ((n, i), (o, wi), (bo,)) = (*x.shape(), *w.shape(), *b.shape());
    assert!(
        wi == i && bo == o,
        "a linear layer of {o} x {wi} (bias {bo}) over rows of {i}"
    );
    let (x, xt) = x.split_tape();
    let (w, wt) = w.split_tape();
    let (b, bt) = b.split_tape();
    let mut tape = wt.merge(bt).merge(xt);
    let (xv, wv, bv) = (host_copy(&x), host_copy(&w), host_copy(&b));
    let mut y = Scratch::take(n * o);
    forward_rows(&xv, &wv, (n, i, o), &mut y);
    if o > 0 {
        super::bias::forward_rows(&mut y, &bv);
    }
    let out = device_tensor(x.device(), &y, (n, o));
    drop((y, bv));
    if T::OWNS_TAPE && n * i * o > 0 {
        let x_taped = X::OWNS_TAPE;
        let (xg, wg, bg, og) = (x.ghost(), w.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    if x_taped {
                        input_grad_rows(dy, &wv, (n, i, o), grads.get_or_alloc_mut(&xg)?);
                    }
                    weight_grad_rows(dy, &xv, (n, i, o), grads.get_or_alloc_mut(&wg)?);
                    let mut db = Scratch::zeros(o);
                    super::bias::bias_backward_rows(dy, &mut db);
                    super::tape::add_into(grads.get_or_alloc_mut(&bg)?, &db);
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

    type Taped = OwnedTape<f32, Cpu>;

    /// Value and gradients (`x`, `w`, `b`) of `Σ r ⊙ (x Wᵀ + b)²`, by the
    /// fused op or dfdx's graph (the reference); `x` on the tape or not
    /// (then its gradient is empty).
    fn run(
        fused: bool,
        x_taped: bool,
        (n, i, o): (usize, usize, usize),
        seed: u64,
    ) -> [Vec<f32>; 4] {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(random(n * i, seed, 2.0), (n, i));
        let w = dev.tensor_from_vec(random(o * i, seed + 1, 1.0), (o, i));
        let b = dev.tensor_from_vec(random(o, seed + 2, 1.0), (o,));
        let r = dev.tensor_from_vec(random(n * o, seed + 3, 1.0), (n, o));
        let (wt, bt): (Tensor<_, f32, Cpu, Taped>, _) = (w.leaky_trace(), b.leaky_trace());
        let graph = |x: Tensor<(usize, usize), f32, Cpu, Taped>, w: Tensor<_, _, _, Taped>, b| {
            let xw: Tensor<(usize, usize), f32, Cpu, Taped> = x.matmul(w.permute());
            xw + Tensor::<(usize,), f32, Cpu, Taped>::broadcast_like::<_, Axis<0>>(b, &(n, o))
        };
        let y = match (fused, x_taped) {
            (true, true) => linear(x.leaky_trace(), wt, bt),
            (true, false) => linear(x.clone(), wt, bt),
            // dfdx's product needs its left side on the tape.
            (false, _) => graph(x.leaky_trace(), wt, bt),
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y.square() * r).sum::<Rank0, _>().backward();
        let dx = if x_taped {
            g.get(&x).as_vec()
        } else {
            Vec::new()
        };
        [yv, dx, g.get(&w).as_vec(), g.get(&b).as_vec()]
    }

    #[test]
    fn values_and_gradients_match_dfdx_graph() {
        for (dims, seed) in [
            ((1, 1, 1), 1),
            ((5, 3, 2), 2),
            ((64, 32, 32), 3),
            ((40, 768, 32), 4),
            ((7, 9, 16), 5),
        ] {
            let want = run(false, true, dims, seed);
            for x_taped in [true, false] {
                let got = run(true, x_taped, dims, seed);
                assert_close(&got[0], &want[0], 1e-6, "y");
                if x_taped {
                    assert_close(&got[1], &want[1], 1e-5, "dx");
                } else {
                    assert!(got[1].is_empty());
                }
                assert_close(&got[2], &want[2], 1e-5, "dw");
                assert_close(&got[3], &want[3], 1e-5, "db");
            }
        }
    }

    #[test]
    fn gradients_match_central_differences_in_f64() {
        let (n, i, o) = (3, 5, 4);
        let (x, w, r) = (
            random(n * i, 11, 2.0),
            random(o * i, 12, 1.0),
            random(n * o, 13, 1.0),
        );
        // `Σ r ⊙ x Wᵀ` in f64 over x ++ w: its gradient is the backward's
        // for `dy = r`.
        let loss = |p: &[f64]| -> f64 {
            let (x, w) = p.split_at(n * i);
            let mut l = 0.0;
            for a in 0..n {
                for c in 0..o {
                    let dot: f64 = (0..i).map(|k| x[a * i + k] * w[c * i + k]).sum();
                    l += r[a * o + c] as f64 * dot;
                }
            }
            l
        };
        let at: Vec<f64> = x.iter().chain(&w).map(|&v| v as f64).collect();
        let want = central_difference(loss, &at, 1e-4);
        let (mut dx, mut dw) = (vec![0.5; n * i], vec![-0.25; o * i]);
        input_grad_rows(&r, &w, (n, i, o), &mut dx);
        weight_grad_rows(&r, &x, (n, i, o), &mut dw);
        // The backward adds into what the buffers held.
        let got: Vec<f32> = dx
            .iter()
            .map(|v| v - 0.5)
            .chain(dw.iter().map(|v| v + 0.25))
            .collect();
        let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
        assert_close(&got, &want, 1e-5, "central differences");
        let mut y = vec![f32::NAN; n * o];
        forward_rows(&x, &w, (n, i, o), &mut y);
        let y0: f64 = y.iter().zip(&r).map(|(y, r)| (y * r) as f64).sum();
        assert!((y0 - loss(&at)).abs() < 1e-4, "{y0} vs {}", loss(&at));
    }
}
