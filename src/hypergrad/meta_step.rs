//! One meta step on the head: direction from the strategy, `c = J v`, the
//! head term, the regulariser's direct term, clipping and Adam.
//!
//! `hypergradient = direct − ∂/∂φ D_l f_φ(l)[J v]` with
//! `direct = ∂/∂φ γ|Σ_k l_k − f_φ(l)| = −γ·sign(Σ_k l_k − f_φ(l))·∂f/∂φ`
//! (dropped when `reference_compat`, as the reference code does).
//! A step that meets a non-finite value anywhere changes nothing — not the
//! head, not the optimiser — and is counted.
//!
//! Everything parameter-sized stays on the device: the head's gradients,
//! its Adam moments and its parameters. What crosses to the host are the K
//! losses and `c` (docs/design.md §2) and three scalars that decide the step: the
//! gradient norm (clipping, the log) and two finiteness checks.

use super::{HypergradStrategy, Identity, InnerModel, PassCount, Problem};
use crate::error::{Error, Result};
use crate::meta_loss::MetaLoss;
use crate::tensor::{Adam, AdamConfig, ParamVec};
use serde::{Deserialize, Serialize};

/// The settings of the meta learner (reference defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaSettings {
    /// Regulariser weight `γ` in `L_out`.
    pub gamma: f32,
    /// Drop the regulariser's direct term `∂L_out/∂φ` (the reference code's choice).
    pub reference_compat: bool,
    /// Head learning rate (Adam).
    pub lr: f32,
    /// Head weight decay (Adam's L2 term, as `torch.optim.Adam`).
    pub weight_decay: f32,
    /// Global-norm clip of the head gradient (`0`: no clipping).
    pub clip: f32,
    /// Central-difference step relative to `‖w‖/‖v‖` (docs/design.md §2:
    /// measured on the video-text backbone: 1e-4 is 0.3 % off, 1e-3 2–22 %).
    pub fd_step: f32,
    /// Adam steps fitting the head to the plain sum before the first
    /// backbone step (`0`, the reference: start from the initialisation);
    /// see [`crate::meta_loss::warm_start_to_sum`].
    pub warm_start: usize,
}

impl Default for MetaSettings {
    fn default() -> Self {
        MetaSettings {
            gamma: 0.1,
            reference_compat: false,
            lr: 1e-3,
            weight_decay: 3e-5,
            clip: 50.0,
            fd_step: 1e-4,
            warm_start: 0,
        }
    }
}

/// What one meta step did.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaOutcome {
    /// The head was updated.
    Updated {
        /// The primary loss on the meta batch.
        primary: f32,
        /// `c = J v`, per task.
        alignment: Vec<f32>,
        /// Norm of the hypergradient before clipping.
        grad_norm: f32,
        /// Backbone passes the step made.
        passes: PassCount,
    },
    /// The strategy takes no meta step.
    NoMetaStep,
    /// A non-finite value was met; nothing changed.
    SkippedNonFinite {
        /// Where it was met.
        reason: String,
    },
}

/// Trains a head by bi-level optimisation.
#[derive(Debug)]
pub struct MetaLearner {
    /// The strategy choosing `v`.
    pub strategy: Box<dyn HypergradStrategy>,
    /// Settings.
    pub settings: MetaSettings,
    /// The head's optimiser.
    pub adam: Adam,
    /// Meta steps skipped for non-finite values.
    pub skipped: u64,
}

impl MetaLearner {
    /// A learner for `head` with `strategy` (default [`Identity`]).
    pub fn new(
        head: &dyn MetaLoss,
        strategy: Option<Box<dyn HypergradStrategy>>,
        settings: MetaSettings,
    ) -> MetaLearner {
        MetaLearner {
            strategy: strategy.unwrap_or_else(|| Box::new(Identity {})),
            adam: Adam::new(settings.adam(), &head.params()),
            settings,
            skipped: 0,
        }
    }

    /// The hypergradient for `head` at the model's parameters: the primary
    /// loss on `meta_batch`, the K losses on `train_batch`. `None` when the
    /// strategy takes no meta step, or the head has nothing to learn (the
    /// plain sum, fixed weights): no backbone pass is spent on it.
    pub fn hypergradient<M: InnerModel>(
        &self,
        model: &mut M,
        head: &dyn MetaLoss,
        meta_batch: (&M::Batch, u64),
        train_batch: (&M::Batch, u64),
    ) -> Result<Option<(ParamVec, Vec<f32>, f32, PassCount)>> {
        if head.num_params() == 0 {
            return Ok(None);
        }
        let s = &self.settings;
        let mut p = Problem::new(model, head, meta_batch, train_batch, s.gamma, s.fd_step);
        let Some(v) = self.strategy.direction(&mut p)? else {
            return Ok(None);
        };
        if !v.is_finite() {
            return Err(non_finite("direction v"));
        }
        let c = p.loss_jvp(&v)?;
        let losses = p.train_losses()?;
        let mut grad = head.mixed_grad(&losses, &c)?;
        grad.scale(-1.0);
        let point = p.last_outer_point().cloned();
        if let (Some(point), false) = (&point, s.reference_compat) {
            if point.sign != 0.0 && s.gamma != 0.0 {
                let direct = head.param_grad(&point.losses, -s.gamma * point.sign)?;
                grad.axpy(1.0, &direct);
            }
        }
        let primary = point.map(|p| p.primary).unwrap_or(f32::NAN);
        Ok(Some((grad, c, primary, p.passes)))
    }

    /// One meta step: computes the hypergradient and updates `head`.
    pub fn step<M: InnerModel>(
        &mut self,
        model: &mut M,
        head: &mut dyn MetaLoss,
        meta_batch: (&M::Batch, u64),
        train_batch: (&M::Batch, u64),
    ) -> Result<MetaOutcome> {
        let result = self
            .hypergradient(model, &*head, meta_batch, train_batch)
            .and_then(|r| match r {
                Some((grad, alignment, primary, passes)) => {
                    let grad_norm = self.apply(head, grad)?;
                    Ok(MetaOutcome::Updated {
                        primary,
                        alignment,
                        grad_norm,
                        passes,
                    })
                }
                None => Ok(MetaOutcome::NoMetaStep),
            });
        match result {
            Err(Error::NonFinite { what, index, value }) => {
                Ok(self.skip(format!("{what} #{index} is {value}")))
            }
            r => r,
        }
    }

    /// Clips the hypergradient `grad` and takes one Adam step on `head`, all
    /// on the device; returns the norm before clipping. A non-finite
    /// gradient or result is an [`Error::NonFinite`] and changes nothing.
    pub fn apply(&mut self, head: &mut dyn MetaLoss, mut grad: ParamVec) -> Result<f32> {
        let norm = clip_global_norm(&mut grad, self.settings.clip);
        if !norm.is_finite() {
            return Err(non_finite("hypergradient"));
        }
        // Cheap clones: the moments and parameters are copied on first write,
        // so a refused update leaves the learner's and the head's untouched.
        let mut params = head.params();
        let mut adam = self.adam.clone();
        adam.step(&mut params, &grad)?;
        head.set_params(&params).map_err(|e| match e {
            Error::NonFinite { .. } => non_finite("updated head parameters"),
            e => e,
        })?;
        self.adam = adam;
        Ok(norm)
    }

    fn skip(&mut self, reason: String) -> MetaOutcome {
        self.skipped += 1;
        tracing::warn!(%reason, skipped = self.skipped, "meta step skipped: non-finite value");
        MetaOutcome::SkippedNonFinite { reason }
    }
}

impl MetaSettings {
    /// The head optimiser's settings: Adam with an L2 weight decay.
    pub fn adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            weight_decay: self.weight_decay,
            decoupled: false,
            ..Default::default()
        }
    }
}

/// Scales `grad` so that its L2 norm is at most `max` (`0`: no clipping);
/// returns the norm it had before.
pub fn clip_global_norm(grad: &mut ParamVec, max: f32) -> f32 {
    let norm = grad.norm();
    if max > 0.0 && norm > max {
        grad.scale(max / norm);
    }
    norm
}

fn non_finite(what: &str) -> Error {
    Error::NonFinite {
        what: what.into(),
        index: 0,
        value: f32::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::clip_global_norm;
    use crate::tensor::{device, ParamVec};

    fn clipped(g: Vec<f32>, max: f32) -> (Vec<f32>, f32) {
        let mut g = ParamVec::from_vec(&device(), g);
        let n = clip_global_norm(&mut g, max);
        (g.to_vec(), n)
    }

    #[test]
    fn clipping_scales_down_to_the_bound_and_leaves_small_gradients() {
        let (g, n) = clipped(vec![3.0, 4.0], 1.0);
        assert_eq!(n, 5.0);
        assert!((g[0] - 0.6).abs() < 1e-7 && (g[1] - 0.8).abs() < 1e-7);
        assert_eq!(clipped(vec![0.3, 0.4], 1.0).0, vec![0.3, 0.4]);
        assert_eq!(clipped(vec![30.0, 40.0], 0.0).0, vec![30.0, 40.0]);
    }
}
