//! The head's parameter layout, written once: the name, shape and place in
//! the flat vector of every tensor. The safetensors file, the CPU kernels,
//! the dfdx graph and the exported WebAssembly program all read it.
//!
//! The order and names are the PyTorch reference's `state_dict`
//! (docs/design.md §1): Linear weights `out x in`, attention
//! `in_proj_weight` with q, k, v stacked (`3d x d`).

use super::preset::Dims;
use crate::error::{Error, Result};
use std::ops::Range;

/// One parameter tensor of the head, in the reference order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Param {
    /// `task_embedding.weight`, `K x d`.
    TaskEmbedding,
    /// `loss_fc1.weight`, `h1 x 1`: the scale embedding's first layer.
    LossFc1Weight,
    /// `loss_fc1.bias`, `h1`.
    LossFc1Bias,
    /// `loss_fc2.weight`, `d x h1`.
    LossFc2Weight,
    /// `loss_fc2.bias`, `d`.
    LossFc2Bias,
    /// `encoder.self_attn.in_proj_weight`, `3d x d` (q, k, v stacked).
    InProjWeight,
    /// `encoder.self_attn.in_proj_bias`, `3d`.
    InProjBias,
    /// `encoder.self_attn.out_proj.weight`, `d x d`.
    OutProjWeight,
    /// `encoder.self_attn.out_proj.bias`, `d`.
    OutProjBias,
    /// `encoder.linear1.weight`, `f x d`.
    Linear1Weight,
    /// `encoder.linear1.bias`, `f`.
    Linear1Bias,
    /// `encoder.linear2.weight`, `d x f`.
    Linear2Weight,
    /// `encoder.linear2.bias`, `d`.
    Linear2Bias,
    /// `encoder.norm1.weight`, `d`.
    Norm1Weight,
    /// `encoder.norm1.bias`, `d`.
    Norm1Bias,
    /// `encoder.norm2.weight`, `d`.
    Norm2Weight,
    /// `encoder.norm2.bias`, `d`.
    Norm2Bias,
    /// `fc1.weight`, `1 x d`: the output projection (no bias).
    OutputWeight,
}

/// The number of parameter tensors.
pub const NUM_PARAMS: usize = 18;

impl Param {
    /// Every tensor, in the order of the flat vector.
    pub const ALL: [Param; NUM_PARAMS] = [
        Param::TaskEmbedding,
        Param::LossFc1Weight,
        Param::LossFc1Bias,
        Param::LossFc2Weight,
        Param::LossFc2Bias,
        Param::InProjWeight,
        Param::InProjBias,
        Param::OutProjWeight,
        Param::OutProjBias,
        Param::Linear1Weight,
        Param::Linear1Bias,
        Param::Linear2Weight,
        Param::Linear2Bias,
        Param::Norm1Weight,
        Param::Norm1Bias,
        Param::Norm2Weight,
        Param::Norm2Bias,
        Param::OutputWeight,
    ];

    /// Its position in [`Param::ALL`] (and in [`super::HeadWeights::tensors`]).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reference (PyTorch `state_dict`) name.
    pub const fn name(self) -> &'static str {
        match self {
            Param::TaskEmbedding => "task_embedding.weight",
            Param::LossFc1Weight => "loss_fc1.weight",
            Param::LossFc1Bias => "loss_fc1.bias",
            Param::LossFc2Weight => "loss_fc2.weight",
            Param::LossFc2Bias => "loss_fc2.bias",
            Param::InProjWeight => "encoder.self_attn.in_proj_weight",
            Param::InProjBias => "encoder.self_attn.in_proj_bias",
            Param::OutProjWeight => "encoder.self_attn.out_proj.weight",
            Param::OutProjBias => "encoder.self_attn.out_proj.bias",
            Param::Linear1Weight => "encoder.linear1.weight",
            Param::Linear1Bias => "encoder.linear1.bias",
            Param::Linear2Weight => "encoder.linear2.weight",
            Param::Linear2Bias => "encoder.linear2.bias",
            Param::Norm1Weight => "encoder.norm1.weight",
            Param::Norm1Bias => "encoder.norm1.bias",
            Param::Norm2Weight => "encoder.norm2.weight",
            Param::Norm2Bias => "encoder.norm2.bias",
            Param::OutputWeight => "fc1.weight",
        }
    }

    /// The reference shape in a head of widths `dims` with `k` losses.
    pub fn shape(self, dims: Dims, k: usize) -> Vec<usize> {
        let Dims { h1, d, f, .. } = dims;
        match self {
            Param::TaskEmbedding => vec![k, d],
            Param::LossFc1Weight => vec![h1, 1],
            Param::LossFc1Bias => vec![h1],
            Param::LossFc2Weight => vec![d, h1],
            Param::InProjWeight => vec![3 * d, d],
            Param::InProjBias => vec![3 * d],
            Param::OutProjWeight => vec![d, d],
            Param::Linear1Weight => vec![f, d],
            Param::Linear1Bias => vec![f],
            Param::Linear2Weight => vec![d, f],
            Param::LossFc2Bias
            | Param::OutProjBias
            | Param::Linear2Bias
            | Param::Norm1Weight
            | Param::Norm1Bias
            | Param::Norm2Weight
            | Param::Norm2Bias => vec![d],
            Param::OutputWeight => vec![1, d],
        }
    }
}

/// The reference names, in [`Param::ALL`] order.
pub const PARAM_NAMES: [&str; NUM_PARAMS] = {
    let mut names = [""; NUM_PARAMS];
    let mut i = 0;
    while i < NUM_PARAMS {
        names[i] = Param::ALL[i].name();
        i += 1;
    }
    names
};

/// Where every tensor of a head of given widths and task count lives in
/// the flat parameter vector (contiguous, in [`Param::ALL`] order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLayout {
    dims: Dims,
    k: usize,
    /// `starts[i]` is where tensor `i` starts; `starts[NUM_PARAMS]` the total.
    starts: [usize; NUM_PARAMS + 1],
}

impl HeadLayout {
    /// The layout of a head with widths `dims` and `k` losses.
    pub fn new(dims: Dims, k: usize) -> HeadLayout {
        let mut starts = [0; NUM_PARAMS + 1];
        for (i, p) in Param::ALL.into_iter().enumerate() {
            starts[i + 1] = starts[i] + p.shape(dims, k).iter().product::<usize>();
        }
        HeadLayout { dims, k, starts }
    }

    /// The widths.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// The number of losses K.
    pub fn num_tasks(&self) -> usize {
        self.k
    }

    /// The reference shape of `p`.
    pub fn shape(&self, p: Param) -> Vec<usize> {
        p.shape(self.dims, self.k)
    }

    /// Every tensor's reference shape, in [`Param::ALL`] order.
    pub fn shapes(&self) -> [Vec<usize>; NUM_PARAMS] {
        Param::ALL.map(|p| self.shape(p))
    }

    /// Where `p` starts in the flat vector.
    #[inline(always)]
    pub fn offset(&self, p: Param) -> usize {
        self.starts[p.index()]
    }

    /// The values of `p` in the flat vector.
    #[inline(always)]
    pub fn range(&self, p: Param) -> Range<usize> {
        self.starts[p.index()]..self.starts[p.index() + 1]
    }

    /// The q (0), k (1) or v (2) rows of `in_proj_weight`, a `d x d` block.
    #[inline(always)]
    pub fn in_proj_weight(&self, part: usize) -> Range<usize> {
        let (at, n) = (self.offset(Param::InProjWeight), self.dims.d * self.dims.d);
        at + part * n..at + (part + 1) * n
    }

    /// The q (0), k (1) or v (2) part of `in_proj_bias`, `d` values.
    #[inline(always)]
    pub fn in_proj_bias(&self, part: usize) -> Range<usize> {
        let (at, n) = (self.offset(Param::InProjBias), self.dims.d);
        at + part * n..at + (part + 1) * n
    }

    /// The length of the flat vector.
    pub fn num_params(&self) -> usize {
        self.starts[NUM_PARAMS]
    }

    /// Checks that `found` parameters fill this head.
    pub fn check_len(&self, found: usize) -> Result<()> {
        if found != self.num_params() {
            return Err(Error::Length {
                what: "head parameters".into(),
                expected: self.num_params(),
                found,
            });
        }
        Ok(())
    }
}

/// Flat vectors that say, at every place, which tensor and which element
/// of it lies there: each engine's test reads them through its own code and
/// checks that it finds what the layout promises.
#[cfg(test)]
pub(crate) mod marked {
    use super::{HeadLayout, Param};

    /// Every element of tensor `p` holds `p.index() + 1`.
    pub(crate) fn by_tensor(l: &HeadLayout) -> Vec<f32> {
        Param::ALL
            .into_iter()
            .flat_map(|p| vec![(p.index() + 1) as f32; l.range(p).len()])
            .collect()
    }

    /// Every element holds its position inside its tensor (exact in f32:
    /// the largest tensor has under 2^24 elements).
    pub(crate) fn by_position(l: &HeadLayout) -> Vec<f32> {
        Param::ALL
            .into_iter()
            .flat_map(|p| (0..l.range(p).len()).map(|j| j as f32))
            .collect()
    }

    /// Both markings, each with whether it marks positions (what
    /// [`check`] takes).
    pub(crate) fn fills(l: &HeadLayout) -> [(bool, Vec<f32>); 2] {
        [(false, by_tensor(l)), (true, by_position(l))]
    }

    /// Checks that `found`, read as tensor `p` (or a `part` of it, from
    /// element `from` on), holds what [`by_tensor`] or [`by_position`] put
    /// there.
    pub(crate) fn check(what: &str, p: Param, from: usize, found: &[f32], position: bool) {
        for (j, v) in found.iter().enumerate() {
            let want = if position {
                (from + j) as f32
            } else {
                (p.index() + 1) as f32
            };
            assert_eq!(*v, want, "{what}: {p:?} element {j}");
        }
    }

    /// The head sizes every test checks: each preset at 1, 3 and 16 losses.
    pub(crate) fn heads() -> Vec<HeadLayout> {
        crate::head::Preset::ALL
            .into_iter()
            .flat_map(|p| [1, 3, 16].map(|k| HeadLayout::new(p.dims(), k)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Preset;

    #[test]
    fn names_follow_the_order_of_the_flat_vector() {
        for (i, p) in Param::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(PARAM_NAMES[i], p.name());
        }
        let mut sorted = PARAM_NAMES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), NUM_PARAMS, "names are unique");
    }

    /// Names and shapes are the reference module's `state_dict`, written
    /// out here from its definition (`nn.Embedding(K, d)`, `nn.Linear(1,
    /// h1)`, `nn.Linear(h1, d)`, `nn.TransformerEncoderLayer(d, 8, f)`,
    /// `nn.Linear(d, 1, bias=False)`).
    #[test]
    fn names_and_shapes_are_the_reference_state_dict() {
        for l in marked::heads() {
            let Dims { h1, d, f, .. } = l.dims();
            let k = l.num_tasks();
            let mut expected: Vec<(String, Vec<usize>)> = vec![
                ("task_embedding.weight".into(), vec![k, d]),
                ("loss_fc1.weight".into(), vec![h1, 1]),
                ("loss_fc1.bias".into(), vec![h1]),
                ("loss_fc2.weight".into(), vec![d, h1]),
                ("loss_fc2.bias".into(), vec![d]),
                ("encoder.self_attn.in_proj_weight".into(), vec![3 * d, d]),
                ("encoder.self_attn.in_proj_bias".into(), vec![3 * d]),
                ("encoder.self_attn.out_proj.weight".into(), vec![d, d]),
                ("encoder.self_attn.out_proj.bias".into(), vec![d]),
                ("encoder.linear1.weight".into(), vec![f, d]),
                ("encoder.linear1.bias".into(), vec![f]),
                ("encoder.linear2.weight".into(), vec![d, f]),
                ("encoder.linear2.bias".into(), vec![d]),
            ];
            for n in ["norm1", "norm2"] {
                for t in ["weight", "bias"] {
                    expected.push((format!("encoder.{n}.{t}"), vec![d]));
                }
            }
            expected.push(("fc1.weight".into(), vec![1, d]));
            let found: Vec<(String, Vec<usize>)> = Param::ALL
                .into_iter()
                .map(|p| (p.name().to_string(), l.shape(p)))
                .collect();
            assert_eq!(found, expected);
        }
    }

    /// The flat vector's length is the parameter count of the reference
    /// module, counted independently: the scale embedding, one post-norm
    /// `nn.TransformerEncoderLayer` (attention `4d² + 4d`, feed-forward
    /// `2df + f + d`, two LayerNorms `4d`), the task embedding and the
    /// bias-free output projection.
    #[test]
    fn the_layout_counts_a_transformer_layer() {
        for preset in Preset::ALL {
            let Dims { h1, d, f, .. } = preset.dims();
            for k in [1, 3, 16] {
                let l = HeadLayout::new(preset.dims(), k);
                let scale = h1 + h1 + d * h1 + d;
                let encoder = (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d;
                assert_eq!(l.num_params(), k * d + scale + encoder + d);
                let mut at = 0;
                for p in Param::ALL {
                    assert_eq!(l.offset(p), at, "{p:?}");
                    at += l.shape(p).iter().product::<usize>();
                    assert_eq!(l.range(p).end, at, "{p:?}");
                }
                let (q, kk, v) = (
                    l.in_proj_weight(0),
                    l.in_proj_weight(1),
                    l.in_proj_weight(2),
                );
                assert_eq!(
                    (q.start, q.end, kk.end, v.end),
                    (
                        l.offset(Param::InProjWeight),
                        kk.start,
                        v.start,
                        l.range(Param::InProjWeight).end
                    )
                );
                assert_eq!(l.in_proj_bias(2).end, l.range(Param::InProjBias).end);
            }
        }
    }
}
