//! A backbone step as the loop takes it, for fine-tuning and pretraining
//! alike: the task gradients' norms for combinators that balance them, the
//! step itself ([`backbone_step`]), the combinator told the losses, the
//! observers told the step or the skip.

use super::observer::{Observers, StepAt};
use super::step::{backbone_step, StepOutcome};
use crate::aux_task::TaskSet;
use crate::backbone::{Backbone, Batch};
use crate::distributed::Communicator;
use crate::error::Result;
use crate::meta_loss::{MetaLoss, Observation};
use crate::tensor::Adam;

/// What a step runs on, borrowed from the run.
pub struct Stepper<'a> {
    /// The K tasks.
    pub tasks: &'a TaskSet,
    /// The backbone stepped.
    pub model: &'a mut dyn Backbone,
    /// Its optimiser.
    pub optimizer: &'a mut Adam,
    /// The loss combinator (the plain sum in pretraining).
    pub combinator: &'a mut dyn MetaLoss,
    /// The ranks the losses and gradients are averaged over.
    pub comm: &'a dyn Communicator,
}

impl Stepper<'_> {
    /// One step on `batch` (this rank's shard) with `seed` for the tasks'
    /// randomness; `None`: skipped for a non-finite value.
    pub fn step(
        &mut self,
        at: &StepAt,
        batch: &Batch,
        seed: u64,
        observers: &mut Observers,
    ) -> Result<Option<StepOutcome>> {
        let grad_norms = match self.combinator.wants_grad_norms() {
            true => Some(self.task_grad_norms(batch, seed)?),
            false => None,
        };
        let done = backbone_step(
            self.tasks,
            &mut *self.model,
            &mut *self.optimizer,
            &*self.combinator,
            batch,
            seed,
            self.comm,
        )?;
        match &done {
            Some(d) => {
                self.combinator.observe(&Observation::Step {
                    losses: &d.losses,
                    grad_norms: grad_norms.as_deref(),
                })?;
                observers.tell(|o| o.step(at, d))?;
            }
            None => observers.tell(|o| o.skip(at))?,
        }
        self.model.release_buffers();
        Ok(done)
    }

    /// Each task's gradient norm `‖∇_w l_k‖` on `batch`, averaged over the
    /// ranks.
    fn task_grad_norms(&self, batch: &Batch, seed: u64) -> Result<Vec<f32>> {
        let w = self.model.params();
        let mut norms = (0..self.tasks.len())
            .map(|k| {
                Ok(self
                    .tasks
                    .task_grad(&*self.model, w, batch, seed, k)?
                    .1
                    .norm())
            })
            .collect::<Result<Vec<f32>>>()?;
        self.comm
            .all_reduce_weighted_mean(&mut norms, batch.size as f32)?;
        Ok(norms)
    }
}
