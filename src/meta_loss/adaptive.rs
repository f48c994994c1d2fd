//! What the trainer shows a combinator that adapts its own weights from
//! training (the baselines a user would pick instead of a learned loss:
//! uncertainty weighting, dynamic weight average, GradNorm), and what such
//! combinators share.
//!
//! The hook is one method, [`MetaLoss::observe`], called with an
//! [`Observation`] after every backbone step that was taken and at the end
//! of every epoch. An adaptive combinator keeps its whole state in its
//! parameter vector, so that a checkpoint carries it and a resumed run
//! continues bit-identically; that vector is never trained by meta steps
//! (its `param_grad` and `mixed_grad` are zero, the run file must use
//! strategy `none`, and the trainer does not warm-start it).
//!
//! [`MetaLoss::observe`]: super::MetaLoss::observe

use super::{check_direction, check_losses};
use crate::error::{check_finite, Error, Result};
use crate::tensor::ParamBlock;
use crate::tensor::{device, ParamVec};

/// What the trainer shows an adaptive combinator.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// A backbone step was taken with these K losses. `grad_norms` holds
    /// each task's gradient norm `‖∇_w l_k‖` at the step's parameters when
    /// the combinator asked for them ([`super::MetaLoss::wants_grad_norms`]).
    Step {
        /// The K losses of the step.
        losses: &'a [f32],
        /// `‖∇_w l_k‖`, one per task, when asked for.
        grad_norms: Option<&'a [f32]>,
    },
    /// An epoch ended; each task's mean loss over its steps.
    Epoch {
        /// The K mean losses.
        mean_losses: &'a [f32],
    },
}

/// An adaptive combinator's state as its parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub name: &'static str,
    pub values: Vec<f32>,
}

impl State {
    pub fn layout(&self) -> Vec<ParamBlock> {
        vec![ParamBlock {
            name: self.name.into(),
            shape: vec![self.values.len()],
        }]
    }

    pub fn params(&self) -> ParamVec {
        ParamVec::from_vec(&device(), self.values.clone())
    }

    pub fn set(&mut self, params: &ParamVec) -> Result<()> {
        params.check("params", self.values.len())?;
        self.values = params.to_vec();
        Ok(())
    }

    /// No meta gradient: the state is not trained by meta steps.
    pub fn zero_grad(
        &self,
        losses: &[f32],
        k: usize,
        direction: Option<&[f32]>,
    ) -> Result<ParamVec> {
        check_losses(losses, Some(k))?;
        if let Some(c) = direction {
            check_direction(c, k)?;
        }
        Ok(ParamVec::zeros(&device(), self.values.len()))
    }
}

/// Checks a task count for an adaptive combinator's settings.
pub(crate) fn check_tasks(tasks: usize) -> Result<()> {
    if tasks == 0 || tasks > super::MAX_TASKS {
        return Err(Error::InvalidSetting {
            field: "meta_loss.tasks".into(),
            value: tasks.to_string(),
            reason: "between 1 and 16 tasks".into(),
        });
    }
    Ok(())
}

/// Checks a positive, finite setting.
pub(crate) fn check_positive(field: &str, v: f32) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::InvalidSetting {
            field: format!("meta_loss.{field}"),
            value: v.to_string(),
            reason: "must be a positive number".into(),
        });
    }
    Ok(())
}

/// Checks an observation's vectors (K finite values).
pub(crate) fn check_seen(what: &str, v: &[f32], k: usize) -> Result<()> {
    check_finite(what, v, k)
}

/// The [`super::MetaLoss`] methods every adaptive combinator shares, written
/// once: its state is its parameter vector, with no meta gradient. Expanded
/// inside each `impl MetaLoss`, which supplies `num_tasks` and `self.state`.
macro_rules! adaptive_state_methods {
    () => {
        fn param_layout(&self) -> Vec<$crate::tensor::ParamBlock> {
            self.state.layout()
        }

        fn params(&self) -> $crate::tensor::ParamVec {
            self.state.params()
        }

        fn set_params(&mut self, params: &$crate::tensor::ParamVec) -> $crate::error::Result<()> {
            self.state.set(params)
        }

        fn param_grad(
            &self,
            losses: &[f32],
            _upstream: f32,
        ) -> $crate::error::Result<$crate::tensor::ParamVec> {
            let k = $crate::meta_loss::MetaLoss::num_tasks(self).unwrap_or(losses.len());
            self.state.zero_grad(losses, k, None)
        }

        fn mixed_grad(
            &self,
            losses: &[f32],
            direction: &[f32],
        ) -> $crate::error::Result<$crate::tensor::ParamVec> {
            let k = $crate::meta_loss::MetaLoss::num_tasks(self).unwrap_or(losses.len());
            self.state.zero_grad(losses, k, Some(direction))
        }

        fn adapts_itself(&self) -> bool {
            true
        }
    };
}
pub(crate) use adaptive_state_methods;
