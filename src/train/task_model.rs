//! A backbone and its tasks as the engine's [`InnerModel`].

use crate::aux_task::TaskSet;
use crate::backbone::{Backbone, Batch};
use crate::error::Result;
use crate::hypergrad::InnerModel;
use crate::tensor::ParamVec;

/// A backbone with its K tasks; task `primary` is the target.
pub struct TaskModel<'a> {
    /// The backbone.
    pub model: &'a mut dyn Backbone,
    /// The K tasks, in loss order.
    pub tasks: &'a TaskSet,
    /// Index of the primary task.
    pub primary: usize,
}

impl InnerModel for TaskModel<'_> {
    type Batch = Batch;

    fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    fn primary(&self) -> usize {
        self.primary
    }

    fn params(&self) -> ParamVec {
        self.model.params().clone()
    }

    fn set_params(&mut self, w: &ParamVec) -> Result<()> {
        self.model.set_params(w.clone())
    }

    fn losses(&self, batch: &Batch, seed: u64) -> Result<Vec<f32>> {
        self.tasks
            .losses_at(&*self.model, self.model.params(), batch, seed)
    }

    fn weighted_grad(
        &self,
        batch: &Batch,
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)> {
        let taped = self
            .tasks
            .forward_taped(&*self.model, self.model.params(), batch, seed)?;
        let values = taped.values().to_vec();
        // The weights first: a data-parallel caller reduces the losses in
        // there, and every rank must get to that collective.
        let a = weights(&values)?;
        crate::error::check_finite("task losses", &values, values.len())?;
        Ok((values, taped.backward(&a)?))
    }

    fn primary_grad(&self, batch: &Batch, seed: u64) -> Result<(f32, ParamVec)> {
        self.tasks
            .task_grad(&*self.model, self.model.params(), batch, seed, self.primary)
    }
}
