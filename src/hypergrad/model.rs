//! What the hypergradient engine needs from a backbone: K task losses on a
//! batch with an explicit seed, their weighted gradient, and the parameters
//! as one flat vector. Any dfdx model (or anything else) can implement it.

use crate::error::Result;
use crate::tensor::ParamVec;

/// A backbone with parameters `w` and K task losses (docs/design.md §2).
///
/// Every stochastic part of a task (masks, mixup λ, rotations, negatives)
/// must come from `seed`, so that two evaluations at nearby `w` with one
/// seed see the same randomness: the central differences of the engine
/// depend on it.
pub trait InnerModel {
    /// A batch of data.
    type Batch;

    /// Number of task losses K.
    fn num_tasks(&self) -> usize;

    /// Index of the primary (target) task among the K.
    fn primary(&self) -> usize;

    /// The parameters `w`, flat.
    fn params(&self) -> ParamVec;

    /// Replaces the parameters with `w` (same layout as [`InnerModel::params`]).
    fn set_params(&mut self, w: &ParamVec) -> Result<()>;

    /// The K task losses, with no tape.
    fn losses(&self, batch: &Self::Batch, seed: u64) -> Result<Vec<f32>>;

    /// The K task losses `l` and `∇_w Σ_k a_k l_k`, where `a = weights(l)`
    /// is computed from the losses of this very forward pass and then held
    /// constant.
    fn weighted_grad(
        &self,
        batch: &Self::Batch,
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)>;

    /// The primary loss and its gradient. The default runs every task with
    /// one-hot weights; a backbone may override it to skip the others.
    fn primary_grad(&self, batch: &Self::Batch, seed: u64) -> Result<(f32, ParamVec)> {
        let (k, p) = (self.num_tasks(), self.primary());
        let (l, g) = self.weighted_grad(batch, seed, &mut |_| {
            let mut a = vec![0.0; k];
            a[p] = 1.0;
            Ok(a)
        })?;
        Ok((l[p], g))
    }
}
