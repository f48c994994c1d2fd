//! Loss combinators: the [`MetaLoss`] trait and its implementations.
//!
//! A meta-loss turns the K task losses of a step, `l = (l_1 .. l_K)`, into
//! one scalar `f_φ(l)`. Besides the value it reports the per-task weights
//! `a = ∇_l f_φ(l)` (the backbone step backpropagates `Σ_k a_k l_k`), the
//! parameter gradient `∂f/∂φ`, and the *head term* of docs/design.md §2,
//! `∂/∂φ D_l f_φ(l)[c] = ∂/∂φ (c · ∇_l f_φ(l))`, from which every
//! hypergradient strategy is assembled.
//!
//! Parameters and their gradients travel as one flat device vector
//! ([`ParamVec`]) whose layout [`MetaLoss::param_layout`] describes, so the
//! meta step's optimiser works on any combinator without leaving the device.
//!
//! ```
//! use meltr::meta_loss::{MetaLoss, Weighted};
//! let w = Weighted::new(vec![1.0, 0.5]).unwrap();
//! let e = w.eval(&[2.0, 4.0]).unwrap();
//! assert_eq!(e.value, 4.0);
//! assert_eq!(e.weights, vec![1.0, 0.5]);
//! ```

mod adaptive;
mod dwa;
mod gradnorm;
mod learned_linear;
mod sum;
mod uncertainty;
mod warm_start;
mod weighted;

pub use adaptive::Observation;
pub use dwa::Dwa;
pub use gradnorm::GradNorm;
pub use learned_linear::LearnedLinear;
pub use sum::Sum;
pub use uncertainty::Uncertainty;
pub use warm_start::{sum_fit, warm_start_to_sum, SumFit};
pub use weighted::Weighted;

use crate::error::{Error, Result};
use crate::tensor::{ParamBlock, ParamVec};
use std::any::Any;

/// The most losses a combinator takes (the MELTR head's task embedding has
/// this many rows).
pub const MAX_TASKS: usize = 16;

/// Checks that `k` losses fit a combinator.
pub fn check_num_tasks(k: usize) -> Result<()> {
    if (1..=MAX_TASKS).contains(&k) {
        Ok(())
    } else {
        Err(Error::InvalidSetting {
            field: "tasks".into(),
            value: k.to_string(),
            reason: format!("a head takes 1 to {MAX_TASKS} losses"),
        })
    }
}

/// A combinator as [`Any`], so that a layer above can reach a concrete one
/// (the trainer saves a MELTR head's weights) without this trait naming it.
/// Call it on `&dyn MetaLoss`, not on a `Box`.
pub trait AsAny: Any {
    /// `self` as `&dyn Any`.
    fn as_any(&self) -> &dyn Any;
    /// `self` as `&mut dyn Any`.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The value of a meta-loss and its per-task weights at one point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// `f_φ(l)`.
    pub value: f32,
    /// `∂f/∂l_k`, one per task.
    pub weights: Vec<f32>,
}

/// Combines K task losses into one; see the module docs.
///
/// Object-safe, and (de)serialisable as `Box<dyn MetaLoss>` from a TOML
/// table whose `type` names the implementation:
///
/// ```
/// let m: Box<dyn meltr::meta_loss::MetaLoss> =
///     toml::from_str("type = \"weighted\"\nweights = [1.0, 0.1]").unwrap();
/// assert_eq!(m.eval(&[1.0, 10.0]).unwrap().value, 2.0);
/// ```
#[typetag::serde(tag = "type")]
pub trait MetaLoss: std::fmt::Debug + AsAny {
    /// The number of losses this combinator takes, or `None` if any number.
    fn num_tasks(&self) -> Option<usize>;

    /// `f(l)` and `∇_l f(l)`. Errors on a wrong length or a non-finite loss.
    fn eval(&self, losses: &[f32]) -> Result<Evaluation>;

    /// The layout of the flat parameter vector (empty for fixed combinators).
    fn param_layout(&self) -> Vec<ParamBlock>;

    /// The current parameters, flat, in [`MetaLoss::param_layout`] order.
    fn params(&self) -> ParamVec;

    /// Replaces the parameters; errors on a wrong length or non-finite value.
    fn set_params(&mut self, params: &ParamVec) -> Result<()>;

    /// `upstream · ∂f/∂φ` at `losses`, flat.
    fn param_grad(&self, losses: &[f32], upstream: f32) -> Result<ParamVec>;

    /// The head term `∂/∂φ D_l f_φ(l)[c]` for direction `c`, flat.
    fn mixed_grad(&self, losses: &[f32], direction: &[f32]) -> Result<ParamVec>;

    /// Number of scalar parameters.
    fn num_params(&self) -> usize {
        self.param_layout().iter().map(ParamBlock::len).sum()
    }

    /// Selects the dropout masks of the next evaluations (`None`: eval mode).
    /// Combinators without dropout ignore it.
    fn set_dropout_seed(&mut self, _seed: Option<u64>) {}

    /// Whether the combinator adapts its weights from what training shows
    /// it ([`MetaLoss::observe`]) rather than by meta steps (the adaptive
    /// baselines; see `adaptive.rs`).
    fn adapts_itself(&self) -> bool {
        false
    }

    /// Whether [`MetaLoss::observe`] wants each task's gradient norm with
    /// every step (costs the trainer K extra backward passes).
    fn wants_grad_norms(&self) -> bool {
        false
    }

    /// Called by the trainer after every backbone step taken and at the
    /// end of every epoch; adaptive combinators update their state here.
    fn observe(&mut self, _seen: &Observation) -> Result<()> {
        Ok(())
    }
}

/// Checks the losses given to a combinator that takes `expected` of them.
pub(crate) fn check_losses(losses: &[f32], expected: Option<usize>) -> Result<()> {
    crate::error::check_finite("losses", losses, expected.unwrap_or(losses.len()))
}

/// Checks a direction `c` against the losses it goes with.
pub(crate) fn check_direction(direction: &[f32], k: usize) -> Result<()> {
    crate::error::check_finite("direction", direction, k)
}
