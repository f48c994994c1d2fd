//! The forward pass: every activation as value rows and, given a
//! direction, tangent rows; what it keeps for the reverse pass.

use super::attention::AttnSaved;
use super::elementwise::{apply_mask, relu_rows};
use super::layer_norm::{layer_norm, NormSaved};
use super::linear::linear;
use super::HostHead;
use crate::head::dropout::MaskValues;
use crate::head::layout::Param;
use crate::head::preset::Dims;
use crate::tensor::vector::dot;

/// The inputs of one forward pass.
pub(super) struct Inputs<'a> {
    pub losses: &'a [f32],
    pub direction: Option<&'a [f32]>,
    pub masks: Option<&'a MaskValues>,
}

/// Everything the forward pass keeps for the reverse pass.
pub(super) struct Tape {
    pub pre1: Vec<f32>,
    pub h1: Vec<f32>,
    pub x0: Vec<f32>,
    pub attn: AttnSaved,
    pub o: Vec<f32>,
    pub n1: NormSaved,
    pub x1: Vec<f32>,
    pub hf_pre: Vec<f32>,
    pub hf: Vec<f32>,
    pub n2: NormSaved,
    pub x2: Vec<f32>,
}

impl HostHead {
    /// The forward pass: value (and tangent) rows of every activation.
    #[inline(always)]
    pub(super) fn forward(&self, inp: &Inputs) -> Tape {
        let Dims { h1, d, f, .. } = self.dims;
        let k = self.k;
        let rows = if inp.direction.is_some() { 2 * k } else { k };
        let masks = inp.masks;
        // Scale embedding; the tangent rows carry `c` and no bias.
        let fc1_w = self.param(Param::LossFc1Weight);
        let fc1_b = self.param(Param::LossFc1Bias);
        let mut pre1 = vec![0.0; rows * h1];
        for r in 0..k {
            for j in 0..h1 {
                pre1[r * h1 + j] = inp.losses[r] * fc1_w[j] + fc1_b[j];
            }
        }
        if let Some(c) = inp.direction {
            for r in 0..k {
                for j in 0..h1 {
                    pre1[(k + r) * h1 + j] = c[r] * fc1_w[j];
                }
            }
        }
        let mut h1v = pre1.clone();
        relu_rows(&mut h1v, &pre1, k * h1);
        let mut x0 = linear(
            &h1v,
            self.param(Param::LossFc2Weight),
            self.param(Param::LossFc2Bias),
            k,
            h1,
            d,
        );
        for (x, e) in x0[..k * d].iter_mut().zip(self.param(Param::TaskEmbedding)) {
            *x += e;
        }
        // x1 = LN1(x0 + MHA(x0))
        let (o, attn) = self.attention(&x0, masks.map(|m| m.attn.as_slice()));
        let mut att = linear(
            &o,
            self.param(Param::OutProjWeight),
            self.param(Param::OutProjBias),
            k,
            d,
            d,
        );
        apply_mask(&mut att, masks.map(|m| m.attn_out.as_slice()));
        let y1: Vec<f32> = x0.iter().zip(&att).map(|(x, y)| x + y).collect();
        let (x1, n1) = layer_norm(
            &y1,
            self.param(Param::Norm1Weight),
            self.param(Param::Norm1Bias),
            k,
            d,
        );
        // x2 = LN2(x1 + FF(x1))
        let hf_pre = linear(
            &x1,
            self.param(Param::Linear1Weight),
            self.param(Param::Linear1Bias),
            k,
            d,
            f,
        );
        let mut hf = hf_pre.clone();
        relu_rows(&mut hf, &hf_pre, k * f);
        apply_mask(&mut hf, masks.map(|m| m.ff_hidden.as_slice()));
        let mut z = linear(
            &hf,
            self.param(Param::Linear2Weight),
            self.param(Param::Linear2Bias),
            k,
            f,
            d,
        );
        apply_mask(&mut z, masks.map(|m| m.ff_out.as_slice()));
        let y2: Vec<f32> = x1.iter().zip(&z).map(|(x, y)| x + y).collect();
        let (x2, n2) = layer_norm(
            &y2,
            self.param(Param::Norm2Weight),
            self.param(Param::Norm2Bias),
            k,
            d,
        );
        Tape {
            pre1,
            h1: h1v,
            x0,
            attn,
            o,
            n1,
            x1,
            hf_pre,
            hf,
            n2,
            x2,
        }
    }

    /// The pooled output of the value rows and of the tangent rows:
    /// `mean_k(x2) · out_w`.
    #[inline(always)]
    pub(super) fn outputs(&self, x2: &[f32]) -> (f32, Option<f32>) {
        let (k, d) = (self.k, self.dims.d);
        let out_w = self.param(Param::OutputWeight);
        let pool =
            |rows: &[f32]| rows.chunks_exact(d).map(|r| dot(r, out_w)).sum::<f32>() / k as f32;
        let value = pool(&x2[..k * d]);
        let tangent = (x2.len() > k * d).then(|| pool(&x2[k * d..]));
        (value, tangent)
    }
}
