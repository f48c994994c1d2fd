//! [`Sharded`]: an [`InnerModel`] whose every loss and gradient is the mean
//! over all ranks' shards, each weighted by its number of examples — the
//! full batch's, up to the order of the floating-point sums.

use crate::backbone::Batch;
use crate::distributed::Communicator;
use crate::error::{Error, Result};
use crate::hypergrad::InnerModel;
use crate::tensor::ParamVec;

/// A batch that knows how many examples it holds (its shard's weight).
pub trait Examples {
    /// Number of examples.
    fn examples(&self) -> usize;
}

impl Examples for Batch {
    fn examples(&self) -> usize {
        self.size
    }
}

/// `inner` on this rank's shard, reduced over `comm`; see the module docs.
pub struct Sharded<'c, M> {
    /// The model on this rank's shards.
    pub inner: M,
    /// The ranks.
    pub comm: &'c dyn Communicator,
}

/// A rank's non-finite loss must not stop it before a collective the other
/// ranks are waiting in: it contributes NaN, and every rank then sees it.
fn or_nan<T>(r: Result<T>, nan: impl FnOnce() -> T) -> Result<T> {
    match r {
        Err(Error::NonFinite { .. }) => Ok(nan()),
        r => r,
    }
}

fn check(what: &str, values: &[f32]) -> Result<()> {
    crate::error::check_finite(what, values, values.len())
}

impl<M: InnerModel> InnerModel for Sharded<'_, M>
where
    M::Batch: Examples,
{
    type Batch = M::Batch;

    fn num_tasks(&self) -> usize {
        self.inner.num_tasks()
    }

    fn primary(&self) -> usize {
        self.inner.primary()
    }

    fn params(&self) -> ParamVec {
        self.inner.params()
    }

    fn set_params(&mut self, w: &ParamVec) -> Result<()> {
        self.inner.set_params(w)
    }

    fn losses(&self, batch: &Self::Batch, seed: u64) -> Result<Vec<f32>> {
        let k = self.num_tasks();
        let mut l = or_nan(self.inner.losses(batch, seed), || vec![f32::NAN; k])?;
        self.comm
            .all_reduce_weighted_mean(&mut l, batch.examples() as f32)?;
        check("task losses", &l)?;
        Ok(l)
    }

    fn weighted_grad(
        &self,
        batch: &Self::Batch,
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)> {
        let n = batch.examples() as f32;
        let mut global = None;
        let (_, mut g) = self.inner.weighted_grad(batch, seed, &mut |local| {
            let mut l = local.to_vec();
            self.comm.all_reduce_weighted_mean(&mut l, n)?;
            global = Some(l.clone());
            weights(&l)
        })?;
        self.comm.all_reduce_weighted_mean_params(&mut g, n)?;
        let l = global
            .ok_or_else(|| Error::Backend("weighted_grad never asked for the weights".into()))?;
        Ok((l, g))
    }

    fn primary_grad(&self, batch: &Self::Batch, seed: u64) -> Result<(f32, ParamVec)> {
        let n = batch.examples() as f32;
        let (l, mut g) = or_nan(self.inner.primary_grad(batch, seed), || {
            (f32::NAN, self.inner.params().zeros_like())
        })?;
        let mut l = [l];
        self.comm.all_reduce_weighted_mean(&mut l, n)?;
        self.comm.all_reduce_weighted_mean_params(&mut g, n)?;
        check("primary loss", &l)?;
        Ok((l[0], g))
    }
}
