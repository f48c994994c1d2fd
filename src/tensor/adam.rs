//! Adam on a flat [`ParamVec`], on the device.
//!
//! `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
//! `w ← w − lr·(m̂ / (√v̂ + eps) + wd·w)` with bias-corrected `m̂, v̂`
//! (PyTorch `torch.optim.AdamW`; with `weight_decay = 0` it is `Adam`).
//! With `decoupled = false` the decay is instead an L2 term added to the
//! gradient, `g ← g + wd·w` (PyTorch `torch.optim.Adam(weight_decay=…)`,
//! what the reference code uses for the MELTR head).

use super::{GradClip, ParamVec};
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
    /// Weight decay.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW), or an L2 term in the gradient.
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: true,
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
    /// Clipping applied to every gradient before the update (none by default).
    pub clip: GradClip,
}

impl Adam {
    /// Fresh state for parameters shaped like `params`.
    pub fn new(config: AdamConfig, params: &ParamVec) -> Adam {
        Adam {
            config,
            m: params.zeros_like(),
            v: params.zeros_like(),
            t: 0,
            clip: GradClip::None,
        }
    }

    /// One update of `params` with gradient `grad`. Refuses (and changes
    /// nothing) if the gradient has the wrong length or a non-finite entry.
    pub fn step(&mut self, params: &mut ParamVec, grad: &ParamVec) -> Result<()> {
        if self.m.len() != params.len() {
            return Err(Error::Length {
                what: "parameters".into(),
                expected: self.m.len(),
                found: params.len(),
            });
        }
        grad.check("gradient", params.len())?;
        let clipped;
        let grad = match self.clip {
            GradClip::None => grad,
            _ => {
                clipped = self.clip.apply(grad);
                &clipped
            }
        };
        self.t += 1;
        #[cfg(not(feature = "cuda"))]
        self.step_host(params, grad);
        #[cfg(feature = "cuda")]
        self.step_device(params, grad);
        Ok(())
    }

    /// The update as device tensor ops (the CUDA build: nothing leaves the GPU).
    #[cfg(feature = "cuda")]
    fn step_device(&mut self, params: &mut ParamVec, grad: &ParamVec) {
        let c = self.config;
        let l2 = !c.decoupled && c.weight_decay != 0.0;
        let g = match l2 {
            true => grad.add_scaled(c.weight_decay, params).0,
            false => grad.0.clone(),
        };
        self.m.0.axpy(c.beta1, &g, 1.0 - c.beta1);
        self.v.0.axpy(c.beta2, &g.square(), 1.0 - c.beta2);
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let denom = (self.v.0.clone() / bc2).sqrt() + c.eps;
        let update = (self.m.0.clone() / bc1) / denom;
        let keep = match c.decoupled {
            true => 1.0 - c.lr * c.weight_decay,
            false => 1.0,
        };
        params.0.axpy(keep, &update, -c.lr);
    }

    /// The update as one loop over host copies (the CPU build): each dfdx op
    /// would allocate and fill a parameter-sized buffer, eight per step
    /// (docs/design.md §8).
    #[cfg(not(feature = "cuda"))]
    fn step_host(&mut self, params: &mut ParamVec, grad: &ParamVec) {
        let c = self.config;
        let dev = params.tensor().device().clone();
        let g = grad.to_vec();
        let (mut w, mut m, mut v) = (params.to_vec(), self.m.to_vec(), self.v.to_vec());
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let l2 = !c.decoupled && c.weight_decay != 0.0;
        let keep = match c.decoupled {
            true => 1.0 - c.lr * c.weight_decay,
            false => 1.0,
        };
        for i in 0..w.len() {
            let gi = if l2 {
                g[i] + c.weight_decay * w[i]
            } else {
                g[i]
            };
            m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * gi;
            v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * (gi * gi);
            let update = (m[i] / bc1) / ((v[i] / bc2).sqrt() + c.eps);
            w[i] = keep * w[i] - c.lr * update;
        }
        *params = ParamVec::from_vec(&dev, w);
        self.m = ParamVec::from_vec(&dev, m);
        self.v = ParamVec::from_vec(&dev, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::device;

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        let dev = device();
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
        let dev = device();
        let mut w = ParamVec::from_vec(&dev, vec![1.0, 2.0]);
        let g = ParamVec::from_vec(&dev, vec![f32::NAN, 1.0]);
        let mut opt = Adam::new(AdamConfig::default(), &w);
        assert!(opt.step(&mut w, &g).is_err());
        assert_eq!(w.to_vec(), vec![1.0, 2.0]);
        assert_eq!(opt.t, 0);
    }

    #[test]
    fn l2_mode_matches_torch_adam_over_two_steps() {
        // torch.optim.Adam([x], lr=0.1, weight_decay=0.5), recomputed in f64.
        let dev = device();
        let mut w = ParamVec::from_vec(&dev, vec![2.0]);
        let config = AdamConfig {
            lr: 0.1,
            weight_decay: 0.5,
            decoupled: false,
            ..Default::default()
        };
        let mut opt = Adam::new(config, &w);
        for g in [1.0, -1.0] {
            opt.step(&mut w, &ParamVec::from_vec(&dev, vec![g]))
                .unwrap();
        }
        let (mut x, mut m, mut v) = (2.0f64, 0.0, 0.0);
        for (t, g) in [(1, 1.0f64), (2, -1.0)] {
            let g = g + 0.5 * x;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            x -= 0.1 * mh / (vh.sqrt() + 1e-8);
        }
        assert!(
            (w.to_vec()[0] as f64 - x).abs() < 1e-6,
            "{:?} vs {x}",
            w.to_vec()
        );
    }

    #[test]
    fn decoupled_mode_shrinks_the_weights_apart_from_the_gradient() {
        // A zero gradient leaves m = v = 0: only the decay w·(1 − lr·wd) acts.
        let dev = device();
        let mut w = ParamVec::from_vec(&dev, vec![2.0, -4.0]);
        let config = AdamConfig {
            lr: 0.1,
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut opt = Adam::new(config, &w);
        opt.step(&mut w, &ParamVec::zeros(&dev, 2)).unwrap();
        let w = w.to_vec();
        assert!(
            (w[0] - 1.9).abs() < 1e-6 && (w[1] + 3.8).abs() < 1e-6,
            "{w:?}"
        );
    }
}
