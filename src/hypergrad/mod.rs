//! Hypergradient strategies: how the head's meta-gradient is assembled.
//!
//! Every strategy reduces to the primitives of docs/design.md §2. A strategy only
//! chooses the parameter-space direction `v` whose image `c = J v` (the
//! directional derivative of the K task losses along `v`) enters the head
//! term; the hypergradient is then
//! `direct term − ∂/∂φ D_l f_φ(l)[c]` (see [`crate::meta_loss::MetaLoss::mixed_grad`]).
//!
//! | strategy | `v` |
//! |---|---|
//! | none | — (no meta step) |
//! | identity (AID-FP-Lite) | `∇_w L_out` |
//! | Neumann | `Σ_j (I − αH)^j ∇_w L_out` |
//! | conjugate gradient | `(H + λI)⁻¹ ∇_w L_out` |
//! | one-step unrolled | `η ∇L_out(w − η ∇_w L_aux)` |

mod conjugate_gradient;
mod identity;
mod meta_step;
mod model;
mod neumann;
mod none;
mod problem;
mod schedule;
mod unrolled;

pub use conjugate_gradient::ConjugateGradient;
pub use identity::Identity;
pub use meta_step::{clip_global_norm, MetaLearner, MetaOutcome, MetaSettings};
pub use model::InnerModel;
pub use neumann::Neumann;
pub use none::NoMeta;
pub use problem::{OuterPoint, PassCount, Problem};
pub use schedule::{BatchRing, MetaSchedule};
pub use unrolled::Unrolled;

use crate::error::Result;
use crate::tensor::ParamVec;

/// What a strategy may ask of the inner problem (the backbone, its K task
/// losses on a training batch, and the outer loss on a meta batch).
///
/// Implemented by the engine over any backbone; every call is first-order.
pub trait BilevelProblem {
    /// `∇_w L_out` at the current parameters (primary loss plus regulariser).
    fn outer_grad(&mut self) -> Result<ParamVec>;

    /// `H u`, the Hessian of the combined loss `f_φ(l(w))` w.r.t. `w` times
    /// `u`, by central difference of `∇_w f_φ(l(w))`.
    fn hessian_vector(&mut self, u: &ParamVec) -> Result<ParamVec>;

    /// `∇_w L_out` at `w − lr · ∇_w f_φ(l(w))` (one inner step ahead); the
    /// parameters are restored afterwards.
    fn outer_grad_after_step(&mut self, lr: f32) -> Result<ParamVec>;
}

/// Chooses the direction `v` of the hypergradient (see the module docs).
///
/// Object-safe and (de)serialisable from a TOML table whose `type` names the
/// strategy.
#[typetag::serde(tag = "type")]
pub trait HypergradStrategy: std::fmt::Debug + Send + Sync {
    /// The direction `v`, or `None` when the strategy takes no meta step
    /// (plain multi-task or fixed weights).
    fn direction(&self, problem: &mut dyn BilevelProblem) -> Result<Option<ParamVec>>;
}
