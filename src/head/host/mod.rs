//! The MELTR head on the host, written out by hand: the forward pass on
//! (value, tangent) rows and its reverse pass, for the CPU build.
//!
//! Why not dfdx here: the head sees K ≤ 16 rows, so each of its linear
//! layers is a matrix–vector product in disguise. dfdx hands every one to a
//! general GEMM that repacks the transposed weight matrix on each call, and
//! its backward allocates, zeroes and copies a weight-sized buffer for each
//! view of a weight; at K = 3 that was 70–90 % of the head's time
//! (docs/design.md §8). Here each weight row is read once per pass and dotted
//! with the K (or 2K) rows while it is in cache.
//!
//! The maths is the graph of [`super::network`] (which the CUDA build runs,
//! and which this module's tests compare it against), with every
//! activation kept as `2K` rows when a direction is given: rows `0..K` the
//! value, rows `K..2K` its tangent `D_l[c]`. The reverse pass takes seeds for
//! the value and the tangent output; the head term is the reverse pass of the
//! tangent alone (docs/design.md §2).
//!
//! Every parameter block is read where [`HeadLayout`] puts it. One file per
//! step: the vector primitives, the linear layers (portable and AVX2 +
//! FMA), the element-wise steps, LayerNorm, attention, then the forward
//! and reverse passes that chain them.

mod attention;
mod backward;
mod elementwise;
#[cfg(target_arch = "x86_64")]
mod fma;
mod forward;
mod layer_norm;
mod linear;
mod scratch;

use super::dropout::sample_masks;
use super::engine::{HeadEngine, HeadGrads};
use super::layout::{HeadLayout, Param};
use super::preset::{Dims, Preset};
use crate::tensor::ParamVec;
use forward::Inputs;
use scratch::GradScratch;
use std::ops::Range;

/// The MELTR head with runtime widths, its parameters on the host.
#[derive(Debug, Clone)]
pub struct HostHead {
    dims: Dims,
    k: usize,
    layout: HeadLayout,
    /// The parameters as the optimiser holds them.
    flat: ParamVec,
    /// The same values, read by the kernels.
    host: Vec<f32>,
    /// `∂/∂φ` is summed here and then copied into a buffer from dfdx's
    /// allocator: a fresh vector per call cost a page fault per 4 KiB twice
    /// over (this one and the copy), which made the head term 3-5x slower.
    grad: GradScratch,
}

impl HostHead {
    /// The values of parameter `p`.
    #[inline(always)]
    fn param(&self, p: Param) -> &[f32] {
        &self.host[self.layout.range(p)]
    }

    /// The values at `at` of the flat vector (a part of a parameter).
    #[inline(always)]
    fn part(&self, at: Range<usize>) -> &[f32] {
        &self.host[at]
    }
}

impl HeadEngine for HostHead {
    fn new(preset: Preset, k: usize, flat: ParamVec) -> HostHead {
        let dims = preset.dims();
        let layout = HeadLayout::new(dims, k);
        let host = flat.to_vec();
        assert_eq!(
            host.len(),
            layout.num_params(),
            "head parameter vector length"
        );
        HostHead {
            dims,
            k,
            layout,
            flat,
            host,
            grad: GradScratch::default(),
        }
    }

    fn params(&self) -> &ParamVec {
        &self.flat
    }

    fn value(&self, losses: &[f32], dropout: Option<(f32, u64)>) -> f32 {
        let masks = dropout.map(|(p, s)| sample_masks(self.k, self.dims.d, self.dims.f, p, s));
        let inp = Inputs {
            losses,
            direction: None,
            masks: masks.as_ref(),
        };
        let t = self.forward(&inp);
        self.outputs(&t.x2).0
    }

    fn backward(
        &self,
        losses: &[f32],
        direction: Option<&[f32]>,
        dropout: Option<(f32, u64)>,
        with_params: bool,
    ) -> HeadGrads {
        let masks = dropout.map(|(p, s)| sample_masks(self.k, self.dims.d, self.dims.f, p, s));
        let inp = Inputs {
            losses,
            direction,
            masks: masks.as_ref(),
        };
        let t = self.forward(&inp);
        let (value, tangent) = self.outputs(&t.x2);
        let (output, seeds) = match tangent {
            Some(tv) => (tv, (0.0, 1.0)),
            None => (value, (1.0, 0.0)),
        };
        if !with_params {
            let (d_losses, d_direction) = self.backward_from(&inp, &t, seeds, None);
            return HeadGrads {
                output,
                d_losses,
                d_direction,
                d_params: None,
            };
        }
        let mut grad = self.grad.0.lock().unwrap_or_else(|e| e.into_inner());
        grad.clear();
        grad.resize(self.layout.num_params(), 0.0);
        let (d_losses, d_direction) = self.backward_from(&inp, &t, seeds, Some(&mut grad));
        HeadGrads {
            output,
            d_losses,
            d_direction,
            d_params: Some(ParamVec::from_slice(self.flat.tensor().device(), &grad)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::init::init_weights;
    use super::super::network::GraphHead;
    use super::*;
    use crate::head::Preset;
    use crate::tensor::device;

    fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: host {x} vs graph {y} (scale {scale})"
            );
        }
    }

    /// The kernels read each tensor, and each q, k, v part of the input
    /// projection, where the layout puts it.
    #[test]
    fn the_kernels_read_each_tensor_where_the_layout_puts_it() {
        use crate::head::layout::marked;
        for l in marked::heads() {
            let preset = Preset::from_dims(l.dims()).unwrap();
            for (position, flat) in marked::fills(&l) {
                let host =
                    HostHead::new(preset, l.num_tasks(), ParamVec::from_vec(&device(), flat));
                for p in Param::ALL {
                    assert_eq!(host.param(p).len(), l.range(p).len());
                    marked::check("host", p, 0, host.param(p), position);
                }
                let dd = l.dims().d * l.dims().d;
                for part in 0..3 {
                    let w = host.part(l.in_proj_weight(part));
                    assert_eq!(w.len(), dd);
                    marked::check("host q/k/v", Param::InProjWeight, part * dd, w, position);
                    let b = host.part(l.in_proj_bias(part));
                    marked::check(
                        "host q/k/v bias",
                        Param::InProjBias,
                        part * l.dims().d,
                        b,
                        position,
                    );
                }
            }
        }
    }

    /// The hand-written head agrees with the dfdx graph (itself checked
    /// against JAX in tests/head_reference.rs) on every output, for every
    /// preset, with and without a direction, with and without dropout.
    #[test]
    fn the_host_head_matches_the_dfdx_graph() {
        for (preset, k) in [
            (Preset::Allinone, 1),
            (Preset::Allinone, 2),
            (Preset::Univl, 5),
            (Preset::Violet, 3),
            (Preset::Paper, 16),
        ] {
            let w = init_weights(preset.dims(), k, 7).unwrap();
            let flat = ParamVec::from_vec(&device(), w.flat());
            let host = HostHead::new(preset, k, flat.clone());
            let graph = GraphHead::new(preset, k, flat);
            let l: Vec<f32> = (0..k).map(|i| 0.2 + 0.9 * i as f32).collect();
            let c: Vec<f32> = (0..k).map(|i| 1.0 - 0.37 * i as f32).collect();
            for dropout in [None, Some((0.3, 11))] {
                let name = format!("{}-k{k} dropout {dropout:?}", preset.name());
                let (vh, vg) = (host.value(&l, dropout), graph.value(&l, dropout));
                close(&format!("{name} value"), &[vh], &[vg], 1e-5);
                for dir in [None, Some(c.as_slice())] {
                    let h = host.backward(&l, dir, dropout, true);
                    let g = graph.backward(&l, dir, dropout, true);
                    let name = format!("{name} direction {}", dir.is_some());
                    close(&format!("{name} output"), &[h.output], &[g.output], 1e-4);
                    close(&format!("{name} d_losses"), &h.d_losses, &g.d_losses, 1e-4);
                    close(
                        &format!("{name} d_direction"),
                        &h.d_direction,
                        &g.d_direction,
                        1e-4,
                    );
                    let (hp, gp) = (h.d_params.unwrap().to_vec(), g.d_params.unwrap().to_vec());
                    close(&format!("{name} d_params"), &hp, &gp, 1e-4);
                    let without = host.backward(&l, dir, dropout, false);
                    assert!(without.d_params.is_none());
                    assert_eq!(
                        without.d_losses, h.d_losses,
                        "{name}: with_params changes ∂/∂l"
                    );
                }
            }
        }
    }
}
