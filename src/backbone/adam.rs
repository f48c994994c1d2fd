//! Adam with decoupled weight decay (AdamW) on a flat [`ParamVec`].
//!
//! `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
//! `w ← w − lr·(m̂ / (√v̂ + eps) + wd·w)` with bias-corrected `m̂, v̂`
//! (PyTorch `torch.optim.AdamW`; with `weight_decay = 0` it is `Adam`).

use super::ParamVec;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Adam settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub eps: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam's state for one parameter vector.
#[derive(Debug, Clone)]
pub struct Adam {
    /// Settings.
    pub config: AdamConfig,
    /// First moment.
    pub m: ParamVec,
    /// Second moment.
    pub v: ParamVec,
    /// Steps taken.
    pub t: u64,
}

impl Adam {
    /// Fresh state for parameters shaped like `params`.
    pub fn new(config: AdamConfig, params: &ParamVec) -> Adam {
        Adam {
            config,
            m: params.zeros_like(),
            v: params.zeros_like(),
            t: 0,
        }
    }

    /// One update of `params` with gradient `grad`. Refuses (and changes
    /// nothing) if the gradient has the wrong length or a non-finite entry.
    pub fn step(&mut self, params: &mut ParamVec, grad: &ParamVec) -> Result<()> {
        if grad.len() != params.len() || self.m.len() != params.len() {
            return Err(Error::Length {
                what: "gradient".into(),
                expected: params.len(),
                found: grad.len(),
            });
        }
        if !grad.is_finite() {
            return Err(Error::NonFinite {
                what: "gradient".into(),
                index: 0,
                value: f32::NAN,
            });
        }
        let c = self.config;
        self.t += 1;
        let g = grad.tensor();
        self.m.0.axpy(c.beta1, g, 1.0 - c.beta1);
        self.v.0.axpy(c.beta2, &g.clone().square(), 1.0 - c.beta2);
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let denom = (self.v.0.clone() / bc2).sqrt() + c.eps;
        let update = (self.m.0.clone() / bc1) / denom;
        params.0.axpy(1.0 - c.lr * c.weight_decay, &update, -c.lr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::Dev;

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        let dev = Dev::default();
        let mut w = ParamVec::from_vec(&dev, vec![1.0, -2.0, 0.5]);
        let g = ParamVec::from_vec(&dev, vec![0.3, -4.0, 0.0]);
        let mut opt = Adam::new(
            AdamConfig {
                lr: 0.1,
                ..Default::default()
            },
            &w,
        );
        opt.step(&mut w, &g).unwrap();
        let w = w.to_vec();
        assert!(
            (w[0] - 0.9).abs() < 1e-5 && (w[1] + 1.9).abs() < 1e-5 && w[2] == 0.5,
            "{w:?}"
        );
    }

    #[test]
    fn non_finite_gradient_is_refused_and_changes_nothing() {
        let dev = Dev::default();
        let mut w = ParamVec::from_vec(&dev, vec![1.0, 2.0]);
        let g = ParamVec::from_vec(&dev, vec![f32::NAN, 1.0]);
        let mut opt = Adam::new(AdamConfig::default(), &w);
        assert!(opt.step(&mut w, &g).is_err());
        assert_eq!(w.to_vec(), vec![1.0, 2.0]);
        assert_eq!(opt.t, 0);
    }
}
