//! A linear layer over constant rows, `y = x Wᵀ + b` with `x` a host
//! matrix (the video frames' pixels), as one op: the product, then the
//! bias over its rows; the backward accumulates `dW += dyᵀ x` straight into
//! the gradient buffer, and `db` in one pass over `dy`.
//!
//! dfdx records the layer as a product and a broadcast add, on a tensor
//! that must carry the tape, and the product's backward always computes
//! both input gradients: for the frames' embedding (768 pixels wide) the
//! rows' gradient was a product as large as the forward, thrown away, and
//! the rows were built as a tensor and centred by one more op. Fusing the
//! linear layers over taped rows the same way was measured and not kept:
//! the host copies cost what the fused add saved (design §8).

use super::matmul::{linear_forward, linear_weight_grad};
use super::tape::{device_tensor, host_copy, with_output_grad};
use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// `x Wᵀ + b` for constant rows `x` (host values, `n × i`; no gradient),
/// `w` (`o × i`) and `b` (`o`), on the CPU, as one op on `w`'s tape; see
/// the module docs.
pub fn linear_of_constant<T: Tape<f32, Cpu>>(
    x: Scratch,
    w: Tensor<(usize, usize), f32, Cpu, T>,
    b: Tensor<(usize,), f32, Cpu, T>,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let (w, b) = (w.contiguous(), b.contiguous());
    let ((o, i), (bo,)) = (*w.shape(), *b.shape());
    assert!(
        bo == o && i > 0 && x.len() % i == 0,
        "a linear layer of {o} x {i} (bias {bo}) over {} values",
        x.len()
    );
    let n = x.len() / i;
    let (w, wt) = w.split_tape();
    let (b, bt) = b.split_tape();
    let mut tape = wt.merge(bt);
    let (wv, bv) = (host_copy(&w), host_copy(&b));
    let mut y = Scratch::take(n * o);
    linear_forward(&x, &wv, (n, i, o), &mut y);
    super::bias::forward_rows(&mut y, &bv);
    let out = device_tensor(w.device(), &y, (n, o));
    drop((y, wv, bv));
    if T::OWNS_TAPE && n * o > 0 {
        let (wg, bg, og) = (w.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    linear_weight_grad(dy, &x, (n, i, o), grads.get_or_alloc_mut(&wg)?);
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

    /// Value and gradients (`w`, `b`) of `Σ r ⊙ (x Wᵀ + b)²`, by the fused
    /// op or by dfdx's graph (the reference, `x` on the tape).
    fn run(fused: bool, (n, i, o): (usize, usize, usize), seed: u64) -> [Vec<f32>; 3] {
        let dev = Cpu::default();
        let xv = random(n * i, seed, 2.0);
        let w = dev.tensor_from_vec(random(o * i, seed + 1, 1.0), (o, i));
        let b = dev.tensor_from_vec(random(o, seed + 2, 1.0), (o,));
        let r = dev.tensor_from_vec(random(n * o, seed + 3, 1.0), (n, o));
        let (wt, bt): (Tensor<_, f32, Cpu, Taped>, _) = (w.leaky_trace(), b.leaky_trace());
        let y = if fused {
            let mut x = Scratch::take(n * i);
            x.copy_from_slice(&xv);
            linear_of_constant(x, wt, bt)
        } else {
            let x: Tensor<(usize, usize), f32, Cpu, Taped> =
                dev.tensor_from_vec(xv, (n, i)).leaky_trace();
            let xw: Tensor<(usize, usize), f32, Cpu, Taped> = x.matmul(wt.permute());
            xw + bt.broadcast_like::<_, Axis<0>>(&(n, o))
        };
        let yv = y.retaped::<NoneTape>().as_vec();
        let g = (y.square() * r).sum::<Rank0, _>().backward();
        [yv, g.get(&w).as_vec(), g.get(&b).as_vec()]
    }

    #[test]
    fn values_and_gradients_are_dfdx_graphs_to_the_bit() {
        // The same products with the same arguments, the same bias pass.
        for (dims, seed) in [
            ((1, 1, 1), 1),
            ((5, 3, 2), 2),
            ((64, 32, 32), 3),
            ((40, 768, 32), 4),
            ((7, 9, 16), 5),
        ] {
            let (got, want) = (run(true, dims, seed), run(false, dims, seed));
            assert_eq!(got[0], want[0], "y");
            assert_eq!(got[1], want[1], "dw");
            assert_eq!(got[2], want[2], "db");
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
        // `Σ r ⊙ x Wᵀ` in f64 over w: its gradient is the backward's for
        // `dy = r`.
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
        let mut dw = vec![-0.25; o * i];
        linear_weight_grad(&r, &x, (n, i, o), &mut dw);
        // The backward adds into what the buffer held.
        let got: Vec<f32> = dw.iter().map(|v| v + 0.25).collect();
        let want: Vec<f32> = want[n * i..].iter().map(|&v| v as f32).collect();
        assert_close(&got, &want, 1e-5, "central differences");
        let mut y = vec![f32::NAN; n * o];
        linear_forward(&x, &w, (n, i, o), &mut y);
        let y0: f64 = y.iter().zip(&r).map(|(y, r)| (y * r) as f64).sum();
        assert!((y0 - loss(&at)).abs() < 1e-4, "{y0} vs {}", loss(&at));
    }
}
