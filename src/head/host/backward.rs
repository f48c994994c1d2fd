//! The reverse pass from seeds on the value and on the tangent output.

use super::elementwise::{apply_mask, relu_back};
use super::forward::{Inputs, Tape};
use super::layer_norm::layer_norm_back;
use super::linear::linear_back;
use super::HostHead;
use crate::head::layout::Param;
use crate::head::preset::Dims;
use crate::tensor::vector::{axpy, dot};
use std::ops::Range;

impl HostHead {
    /// The reverse pass from seeds `gv` (on the value) and `gt` (on the
    /// tangent): `∂/∂l`, `∂/∂c` (empty without a direction) and, given a
    /// zeroed `grad`, `∂/∂φ` summed into it in the reference layout.
    #[inline(always)]
    pub(super) fn backward_from(
        &self,
        inp: &Inputs,
        t: &Tape,
        seeds: (f32, f32),
        grad: Option<&mut [f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let Dims { h1, d, f, .. } = self.dims;
        let (k, l) = (self.k, self.layout);
        let tangent = inp.direction.is_some();
        let rows = if tangent { 2 * k } else { k };
        let masks = inp.masks;
        let mut gp = grad;
        // Splits the parameter gradient into a weight block and its bias.
        macro_rules! wb {
            ($w:expr, $b:expr) => {
                gp.as_deref_mut()
                    .map(|g| split_wb(g, l.range($w), l.range($b)))
            };
        }
        // Output: f = mean_k(x2) · out_w on value and tangent rows.
        let out_w = self.param(Param::OutputWeight);
        let mut gx2 = vec![0.0; rows * d];
        for r in 0..rows {
            let seed = if r < k { seeds.0 } else { seeds.1 } / k as f32;
            axpy(&mut gx2[r * d..(r + 1) * d], seed, out_w);
        }
        if let Some(g) = gp.as_deref_mut() {
            let gw = &mut g[l.range(Param::OutputWeight)];
            for r in 0..rows {
                let seed = if r < k { seeds.0 } else { seeds.1 } / k as f32;
                axpy(gw, seed, &t.x2[r * d..(r + 1) * d]);
            }
        }
        // x2 = LN2(x1 + z)
        let gy2 = layer_norm_back(
            &gx2,
            &t.n2,
            self.param(Param::Norm2Weight),
            wb!(Param::Norm2Weight, Param::Norm2Bias),
            k,
            d,
        );
        let mut gz = gy2.clone();
        apply_mask(&mut gz, masks.map(|m| m.ff_out.as_slice()));
        let mut ghf = linear_back(
            &gz,
            &t.hf,
            self.param(Param::Linear2Weight),
            wb!(Param::Linear2Weight, Param::Linear2Bias),
            k,
            f,
            d,
        );
        apply_mask(&mut ghf, masks.map(|m| m.ff_hidden.as_slice()));
        relu_back(&mut ghf, &t.hf_pre, k * f);
        let gx1_ff = linear_back(
            &ghf,
            &t.x1,
            self.param(Param::Linear1Weight),
            wb!(Param::Linear1Weight, Param::Linear1Bias),
            k,
            d,
            f,
        );
        let gx1: Vec<f32> = gy2.iter().zip(&gx1_ff).map(|(x, y)| x + y).collect();
        // x1 = LN1(x0 + MHA(x0))
        let gy1 = layer_norm_back(
            &gx1,
            &t.n1,
            self.param(Param::Norm1Weight),
            wb!(Param::Norm1Weight, Param::Norm1Bias),
            k,
            d,
        );
        let mut ga = gy1.clone();
        apply_mask(&mut ga, masks.map(|m| m.attn_out.as_slice()));
        let go = linear_back(
            &ga,
            &t.o,
            self.param(Param::OutProjWeight),
            wb!(Param::OutProjWeight, Param::OutProjBias),
            k,
            d,
            d,
        );
        let gx0_att = self.attention_back(
            &go,
            &t.x0,
            &t.attn,
            masks.map(|m| m.attn.as_slice()),
            gp.as_deref_mut(),
        );
        let gx0: Vec<f32> = gy1.iter().zip(&gx0_att).map(|(x, y)| x + y).collect();
        // Scale embedding and task embedding.
        if let Some(g) = gp.as_deref_mut() {
            for (ge, gx) in g[l.range(Param::TaskEmbedding)]
                .iter_mut()
                .zip(&gx0[..k * d])
            {
                *ge += gx;
            }
        }
        let mut gh1 = linear_back(
            &gx0,
            &t.h1,
            self.param(Param::LossFc2Weight),
            wb!(Param::LossFc2Weight, Param::LossFc2Bias),
            k,
            h1,
            d,
        );
        relu_back(&mut gh1, &t.pre1, k * h1);
        let fc1_w = self.param(Param::LossFc1Weight);
        let d_losses: Vec<f32> = (0..k)
            .map(|r| dot(&gh1[r * h1..(r + 1) * h1], fc1_w))
            .collect();
        let d_direction: Vec<f32> = match tangent {
            true => (0..k)
                .map(|r| dot(&gh1[(k + r) * h1..(k + r + 1) * h1], fc1_w))
                .collect(),
            false => Vec::new(),
        };
        if let Some(g) = gp.as_deref_mut() {
            for r in 0..k {
                let row = &gh1[r * h1..(r + 1) * h1];
                axpy(&mut g[l.range(Param::LossFc1Weight)], inp.losses[r], row);
                for (b, x) in g[l.range(Param::LossFc1Bias)].iter_mut().zip(row) {
                    *b += x;
                }
                if let Some(c) = inp.direction {
                    axpy(
                        &mut g[l.range(Param::LossFc1Weight)],
                        c[r],
                        &gh1[(k + r) * h1..(k + r + 1) * h1],
                    );
                }
            }
        }
        (d_losses, d_direction)
    }
}

/// The weight block `w` and the bias block `b` of a flat gradient, as two
/// disjoint mutable slices.
pub(super) fn split_wb(
    g: &mut [f32],
    w: Range<usize>,
    b: Range<usize>,
) -> (&mut [f32], &mut [f32]) {
    if w.start < b.start {
        let (lo, hi) = g.split_at_mut(b.start);
        (&mut lo[w], &mut hi[..b.len()])
    } else {
        let (lo, hi) = g.split_at_mut(w.start);
        (&mut hi[..w.len()], &mut lo[b])
    }
}
