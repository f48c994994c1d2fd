//! `TaskSet`: K tasks evaluated together over a backbone — what the
//! trainer and the hypergradient engine call.
//!
//! * [`TaskSet::forward_taped`] then [`TapedLosses::backward`]: the K losses
//!   on a tape, their values, then `∇_w Σ_k a_k l_k` for constant weights `a`
//!   (from the combinator) in one backward pass.
//! * [`TaskSet::losses_at`]: the K losses at any `w` (e.g. `w ± εv`) with no tape.
//! * [`TaskSet::task_grad`]: one task's loss and gradient (the primary loss on a meta batch).
//!
//! Task k sees the seed [`task_seed`]`(seed, k)`: a step's randomness is one
//! `u64`, and the same `(seed, k)` always gives the same masks and angles.

use super::{AuxTask, TaskSpec};
use crate::backbone::{Backbone, Batch, Loss, PartId, Taped, TapedNet};
use crate::dataset::mix64;
use crate::error::{Error, Result};
use crate::tensor::ParamVec;
use dfdx::prelude::*;

/// The seed task `k` gets within a step seeded `seed`.
pub fn task_seed(seed: u64, k: usize) -> u64 {
    mix64(seed ^ mix64(k as u64 + 1))
}

/// An ordered list of tasks; see the module docs.
#[derive(Debug, Default)]
pub struct TaskSet {
    tasks: Vec<Box<dyn AuxTask>>,
}

impl TaskSet {
    /// The tasks, in loss order.
    pub fn new(tasks: Vec<Box<dyn AuxTask>>) -> TaskSet {
        TaskSet { tasks }
    }

    /// Registered tasks by name, each with its default settings.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<TaskSet> {
        let empty = toml::Table::new();
        let tasks = names
            .iter()
            .map(|n| super::build_task(n.as_ref(), &empty))
            .collect::<Result<_>>()?;
        Ok(TaskSet { tasks })
    }

    /// The tasks a run file lists, built from their settings.
    pub fn from_specs(specs: &[TaskSpec]) -> Result<TaskSet> {
        let tasks = specs.iter().map(TaskSpec::build).collect::<Result<_>>()?;
        Ok(TaskSet { tasks })
    }

    /// Number of tasks K.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Box<dyn AuxTask>] {
        &self.tasks
    }

    /// Task names, in loss order.
    pub fn names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name().to_string()).collect()
    }

    /// Index of the task called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name() == name)
    }

    /// Errors, naming the task and the missing part, if `model` cannot serve every task.
    pub fn check_served(&self, model: &dyn Backbone) -> Result<()> {
        let has = model.provides();
        for t in &self.tasks {
            if let Some(missing) = t.needs().into_iter().find(|c| !has.contains(c)) {
                return Err(not_served(t.as_ref(), missing.name, model));
            }
        }
        Ok(())
    }

    /// The K losses at parameters `w`, recording no tape.
    pub fn losses_at(
        &self,
        model: &dyn Backbone,
        w: &ParamVec,
        batch: &Batch,
        seed: u64,
    ) -> Result<Vec<f32>> {
        batch.validate()?;
        self.check_served(model)?;
        let net = model.net_free(w);
        let losses = self
            .tasks
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let l = t.loss_free(&*net, batch, task_seed(seed, k));
                Ok(l.map_err(|e| named(t.as_ref(), e, model))?.array())
            })
            .collect();
        model.release_buffers();
        losses
    }

    /// The K losses at parameters `w` on a tape; read the values, then call
    /// [`TapedLosses::backward`] with the per-task weights.
    pub fn forward_taped<'m>(
        &self,
        model: &'m dyn Backbone,
        w: &ParamVec,
        batch: &Batch,
        seed: u64,
    ) -> Result<TapedLosses<'m>> {
        batch.validate()?;
        self.check_served(model)?;
        let net = model.net_taped(w);
        let mut losses = Vec::with_capacity(self.len());
        for (k, t) in self.tasks.iter().enumerate() {
            let l = t.loss_taped(&*net, batch, task_seed(seed, k));
            losses.push(l.map_err(|e| named(t.as_ref(), e, model))?);
        }
        let values = losses.iter().map(|l| l.array()).collect();
        Ok(TapedLosses {
            model,
            net,
            losses,
            values,
        })
    }

    /// Task `k`'s loss and its gradient at `w` (seeded as within the set).
    pub fn task_grad(
        &self,
        model: &dyn Backbone,
        w: &ParamVec,
        batch: &Batch,
        seed: u64,
        k: usize,
    ) -> Result<(f32, ParamVec)> {
        let task = self.tasks.get(k).ok_or_else(|| Error::InvalidSetting {
            field: "task index".into(),
            value: k.to_string(),
            reason: format!("there are {} tasks", self.len()),
        })?;
        batch.validate()?;
        self.check_served(model)?;
        let net = model.net_taped(w);
        let loss = task
            .loss_taped(&*net, batch, task_seed(seed, k))
            .map_err(|e| named(task.as_ref(), e, model))?;
        let value = loss.array();
        let grad = net.gradient(loss);
        model.release_buffers();
        Ok((value, grad))
    }
}

/// The error of a task that asked the backbone for a part it lacks.
fn not_served(task: &dyn AuxTask, part: &str, model: &dyn Backbone) -> Error {
    Error::TaskNotServed {
        task: task.name().to_string(),
        needs: part.to_string(),
        has: model
            .provides()
            .iter()
            .map(PartId::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Names the task in a missing-part or missing-input error.
fn named(task: &dyn AuxTask, e: Error, model: &dyn Backbone) -> Error {
    match e {
        Error::MissingPart { part } => not_served(task, part, model),
        Error::MissingInput { input } => Error::TaskConfig {
            task: task.name().to_string(),
            message: format!("needs {input}, which this data set's batches do not carry"),
        },
        other => other,
    }
}

/// K losses on one tape, awaiting their weights.
pub struct TapedLosses<'m> {
    model: &'m dyn Backbone,
    net: Box<dyn TapedNet + 'm>,
    losses: Vec<Loss<Taped>>,
    values: Vec<f32>,
}

impl TapedLosses<'_> {
    /// The K loss values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// `∇_w Σ_k weights[k] · l_k`, the weights taken as constants.
    pub fn backward(self, weights: &[f32]) -> Result<ParamVec> {
        crate::error::check_finite("task weights", weights, self.losses.len())?;
        let mut total: Option<Loss<Taped>> = None;
        for (l, &a) in self.losses.into_iter().zip(weights) {
            let term = l * a;
            total = Some(match total {
                None => term,
                Some(t) => t + term,
            });
        }
        let total = total.ok_or_else(|| Error::Length {
            what: "tasks".into(),
            expected: 1,
            found: 0,
        })?;
        let grad = self.net.gradient(total);
        self.model.release_buffers();
        Ok(grad)
    }
}
