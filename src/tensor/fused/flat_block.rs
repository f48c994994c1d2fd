//! A block of a flat parameter vector read as a tensor of its own shape:
//! forward one copy of the block, backward one add into the flat vector's
//! gradient at the block's offset.
//!
//! dfdx's `gather` (how a backbone reads its blocks otherwise) walks an
//! index per element forward and again backward.

use super::tape::{device_tensor, with_output_grad};
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// The values `flat[offset .. offset + shape.num_elements()]` as a tensor
/// of `shape`, on `flat`'s tape: its gradient lands in `flat`'s. `values`
/// must be `flat`'s values on the host (e.g. [`super::host_copy`] of it,
/// taken once for many blocks).
pub fn flat_block<S: Shape, T: Tape<f32, Cpu>>(
    flat: &Tensor<(usize,), f32, Cpu, T>,
    values: &[f32],
    offset: usize,
    shape: S,
) -> Tensor<S, f32, Cpu, T> {
    let len = shape.num_elements();
    assert_eq!(
        values.len(),
        flat.shape().0,
        "host values of another vector"
    );
    assert!(
        offset + len <= values.len(),
        "block {offset}+{len} past {}",
        values.len()
    );
    let (flat, mut tape) = flat.retaped::<T>().split_tape();
    let out = device_tensor(flat.device(), &values[offset..offset + len], shape);
    if T::OWNS_TAPE && len > 0 {
        let (fg, og) = (flat.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad(
                grads,
                |g| g.get_or_alloc_mut(&og),
                |grads, dy| {
                    let g = grads.get_or_alloc_mut(&fg)?;
                    for (g, d) in g[offset..offset + len].iter_mut().zip(dy) {
                        *g += d;
                    }
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

    /// Two blocks (one read twice) of a flat vector, through `Σ r ⊙ block²`:
    /// value and the flat gradient, fused or by dfdx's gather (the reference).
    fn run(fused: bool) -> [Vec<f32>; 2] {
        let dev = Cpu::default();
        let n = 40;
        let v = random(n, 1, 1.0);
        let flat = dev.tensor_from_vec(v.clone(), (n,));
        let ft: Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>> = flat.leaky_trace();
        let read = |off: usize, shape: (usize, usize)| -> Tensor<(usize, usize), f32, Cpu, _> {
            if fused {
                flat_block(&ft, &v, off, shape)
            } else {
                let idx = dev.tensor_from_vec(
                    (off..off + shape.0 * shape.1).collect(),
                    (shape.0 * shape.1,),
                );
                let g: Tensor<(usize,), f32, Cpu, _> =
                    ft.retaped::<OwnedTape<f32, Cpu>>().gather(idx);
                g.reshape_like(&shape)
            }
        };
        let a = read(3, (2, 5));
        let b = read(20, (4, 4));
        let a2 = read(3, (2, 5));
        let r = dev.tensor_from_vec(random(16, 2, 1.0), (4, 4));
        let vals = [a.as_vec(), b.as_vec()].concat();
        let l = (a.square() + a2 * 3.0).sum::<Rank0, _>() + (b.square() * r).sum::<Rank0, _>();
        let g = l.backward().get(&flat).as_vec();
        [vals, g]
    }

    #[test]
    fn values_and_the_flat_gradient_match_dfdx_gather() {
        let (f, g) = (run(true), run(false));
        assert_close(&f[0], &g[0], 0.0, "blocks");
        assert_close(&f[1], &g[1], 1e-6, "flat gradient");
        // Untouched entries keep a zero gradient.
        assert_eq!(f[1][0], 0.0);
        assert_eq!(f[1][39], 0.0);
    }
}
