//! The training step, once: forward the K tasks on a tape, combine the
//! losses, backward `Σ_k a_k l_k`, update — or skip, changing nothing,
//! when a loss, a weight or the gradient is not finite. Fine-tuning,
//! pretraining, the task contract test and `meltr bench step` all call it.

use crate::aux_task::TaskSet;
use crate::backbone::{Backbone, Batch};
use crate::distributed::Communicator;
use crate::error::{Error, Result};
use crate::meta_loss::MetaLoss;
use crate::tensor::Adam;
use std::time::Instant;

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

/// Wall-clock milliseconds of each phase, summed over the steps timed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// The K task losses on a tape.
    pub forward_ms: f64,
    /// The combinator's value and weights.
    pub combine_ms: f64,
    /// Backward of `Σ_k a_k l_k` through the backbone.
    pub backward_ms: f64,
    /// The optimiser's update.
    pub update_ms: f64,
}

/// One backbone step on `combinator(l)` with `seed` for the tasks'
/// randomness. `Ok(None)`: skipped for a non-finite value, nothing changed.
/// With `times`, each phase's duration is added to it (each ends with a
/// value read back to the host, so queued GPU kernels are included).
///
/// `batch` is this rank's shard of the step's batch: the K losses and the
/// gradient are averaged over `comm`'s ranks (weighted by their shards'
/// sizes) before they are used, so every rank takes the same step
/// ([`SingleProcess`](crate::distributed::SingleProcess) for one process).
#[allow(clippy::too_many_arguments)]
pub fn backbone_step(
    tasks: &TaskSet,
    model: &mut dyn Backbone,
    optimizer: &mut Adam,
    combinator: &dyn MetaLoss,
    batch: &Batch,
    seed: u64,
    comm: &dyn Communicator,
    mut times: Option<&mut StepTimes>,
) -> Result<Option<StepOutcome>> {
    let timing = times.is_some();
    let mut lap = |slot: fn(&mut StepTimes) -> &mut f64, start: Instant| {
        if let Some(t) = times.as_deref_mut() {
            *slot(t) += start.elapsed().as_secs_f64() * 1e3;
        }
    };
    let s = Instant::now();
    let taped = tasks.forward_taped(&*model, model.params(), batch, seed)?;
    let mut losses = taped.values().to_vec();
    let shard = batch.size as f32;
    comm.all_reduce_weighted_mean(&mut losses, shard)?;
    lap(|t| &mut t.forward_ms, s);
    let s = Instant::now();
    let e = match combinator.eval(&losses) {
        Ok(e) if e.value.is_finite() && e.weights.iter().all(|w| w.is_finite()) => e,
        Ok(_) | Err(Error::NonFinite { .. }) => {
            tracing::warn!(?losses, "step skipped: non-finite loss or weight");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    lap(|t| &mut t.combine_ms, s);
    let s = Instant::now();
    let mut grad = taped.backward(&e.weights)?;
    comm.all_reduce_weighted_mean_params(&mut grad, shard)?;
    let finite = grad.is_finite();
    lap(|t| &mut t.backward_ms, s);
    if !finite {
        tracing::warn!("step skipped: non-finite gradient");
        return Ok(None);
    }
    let s = Instant::now();
    let mut w = model.params().clone();
    optimizer.step(&mut w, &grad)?;
    model.set_params(w)?;
    if timing {
        model.params().norm();
    }
    lap(|t| &mut t.update_ms, s);
    Ok(Some(StepOutcome {
        losses,
        weights: e.weights,
        value: e.value,
    }))
}
