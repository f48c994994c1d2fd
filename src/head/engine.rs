//! What the head's two in-process engines share: the CPU kernels
//! ([`super::host::HostHead`], the CPU build) and the dfdx graph
//! ([`super::network::GraphHead`], the CUDA build), both over a flat
//! parameter vector in [`super::HeadLayout`] order.
//!
//! The exported WebAssembly program is the third engine but not one of
//! these: it has no tangent, no parameter gradient and no dropout, and runs
//! fallibly in a sandbox; what it computes (the value and `∇_l f`) is held
//! to [`HeadEngine::backward`] by the export tests.

use super::preset::Preset;
use crate::tensor::ParamVec;

/// What one backward pass through the head gives.
pub struct HeadGrads {
    /// The differentiated output (the value, or the tangent `D_l f[c]`).
    pub output: f32,
    /// Its gradient w.r.t. the losses `l`.
    pub d_losses: Vec<f32>,
    /// Its gradient w.r.t. the direction `c` (= `∇_l f`, the task weights);
    /// empty when no direction was given.
    pub d_direction: Vec<f32>,
    /// Its gradient w.r.t. every parameter, flat, in the reference layout
    /// (`None` when not asked for).
    pub d_params: Option<ParamVec>,
}

/// A way to compute the MELTR head: its value, and one reverse pass
/// through the value or through the tangent `D_l f(l)[c]` (the head term
/// of docs/design.md §2 is the parameter gradient of the latter).
///
/// `dropout` is `(p, seed)`: training-mode dropout with the masks of
/// [`super::dropout::sample_masks`], the same in every engine.
pub(crate) trait HeadEngine: Clone + std::fmt::Debug {
    /// The head of `preset`'s widths for `k` tasks over `flat` (its length
    /// is checked by the caller).
    fn new(preset: Preset, k: usize, flat: ParamVec) -> Self;

    /// Every parameter, flat, in the reference layout.
    fn params(&self) -> &ParamVec;

    /// The head's value for losses `l`.
    fn value(&self, losses: &[f32], dropout: Option<(f32, u64)>) -> f32;

    /// Backward through the value (no direction) or through the tangent
    /// `D_l f(l)[c]` (with direction `c`). Without `with_params`,
    /// `d_params` is left empty (the per-step evaluation needs only `∇_l`).
    fn backward(
        &self,
        losses: &[f32],
        direction: Option<&[f32]>,
        dropout: Option<(f32, u64)>,
        with_params: bool,
    ) -> HeadGrads;
}
