//! The training step, once: forward the K tasks on a tape, combine the
//! losses, backward `Σ_k a_k l_k`, update — or skip, changing nothing,
//! when a loss, a weight or the gradient is not finite. Fine-tuning,
//! pretraining and the task contract test call [`backbone_step`]; `meltr
//! bench step` times the same phases one by one (`cli/src/bench/step_profile.rs`).

use crate::aux_task::{TapedLosses, TaskSet};
use crate::backbone::{Backbone, Batch};
use crate::distributed::Communicator;
use crate::error::{Error, Result};
use crate::meta_loss::{Evaluation, MetaLoss};
use crate::tensor::Adam;
use crate::tensor::ParamVec;

/// What a step that was taken did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// The K losses.
    pub losses: Vec<f32>,
    /// The per-task weights `∂f/∂l_k` the backbone was updated with.
    pub weights: Vec<f32>,
    /// The combined loss `f(l)`.
    pub value: f32,
}

/// One backbone step on `combinator(l)` with `seed` for the tasks'
/// randomness. `Ok(None)`: skipped for a non-finite value, nothing changed.
///
/// `batch` is this rank's shard of the step's batch: the K losses and the
/// gradient are averaged over `comm`'s ranks (weighted by their shards'
/// sizes) before they are used, so every rank takes the same step
/// ([`SingleProcess`](crate::distributed::SingleProcess) for one process).
pub fn backbone_step(
    tasks: &TaskSet,
    model: &mut dyn Backbone,
    optimizer: &mut Adam,
    combinator: &dyn MetaLoss,
    batch: &Batch,
    seed: u64,
    comm: &dyn Communicator,
) -> Result<Option<StepOutcome>> {
    let (taped, losses) = forward(tasks, &*model, batch, seed, comm)?;
    let Some(e) = combine(combinator, &losses)? else {
        return Ok(None);
    };
    let Some(grad) = backward(taped, &e.weights, batch, comm)? else {
        return Ok(None);
    };
    update(model, optimizer, &grad)?;
    Ok(Some(StepOutcome {
        losses,
        weights: e.weights,
        value: e.value,
    }))
}

/// Phase 1: the K losses on a tape, averaged over the ranks.
pub fn forward<'m>(
    tasks: &TaskSet,
    model: &'m dyn Backbone,
    batch: &Batch,
    seed: u64,
    comm: &dyn Communicator,
) -> Result<(TapedLosses<'m>, Vec<f32>)> {
    let taped = tasks.forward_taped(model, model.params(), batch, seed)?;
    let mut losses = taped.values().to_vec();
    comm.all_reduce_weighted_mean(&mut losses, batch.size as f32)?;
    Ok((taped, losses))
}

/// Phase 2: the combinator's value and weights; `None` when one is not
/// finite.
pub fn combine(combinator: &dyn MetaLoss, losses: &[f32]) -> Result<Option<Evaluation>> {
    match combinator.eval(losses) {
        Ok(e) if e.value.is_finite() && e.weights.iter().all(|w| w.is_finite()) => Ok(Some(e)),
        Ok(_) | Err(Error::NonFinite { .. }) => {
            tracing::warn!(?losses, "step skipped: non-finite loss or weight");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Phase 3: `∇_w Σ_k a_k l_k`, averaged over the ranks; `None` when it is
/// not finite.
pub fn backward(
    taped: TapedLosses<'_>,
    weights: &[f32],
    batch: &Batch,
    comm: &dyn Communicator,
) -> Result<Option<ParamVec>> {
    let mut grad = taped.backward(weights)?;
    comm.all_reduce_weighted_mean_params(&mut grad, batch.size as f32)?;
    if !grad.is_finite() {
        tracing::warn!("step skipped: non-finite gradient");
        return Ok(None);
    }
    Ok(Some(grad))
}

/// Phase 4: the optimiser's update of the backbone.
pub fn update(model: &mut dyn Backbone, optimizer: &mut Adam, grad: &ParamVec) -> Result<()> {
    let mut w = model.params().clone();
    optimizer.step(&mut w, grad)?;
    model.set_params(w)
}
