//! The backbone's training recipe, the run file's `[optimizer]` table:
//! Adam's settings, a learning-rate schedule over the run's steps and
//! gradient clipping. Every method of a comparison trains with the same
//! recipe. The reference code trains with BertAdam: `schedule = "linear"`
//! (`warmup_linear`), `clip = "per_tensor"`, `max_grad_norm = 1.0`,
//! `eps = 1e-6`.
//!
//! ```toml
//! [optimizer]
//! lr = 5e-4
//! eps = 1e-6
//! schedule = "linear"   # constant (default), linear, cosine
//! warmup = 0.1          # fraction of the run's steps
//! clip = "per_tensor"   # none (default), per_tensor, global
//! max_grad_norm = 1.0
//! ```

use crate::error::{Error, Result};
use crate::tensor::{AdamConfig, GradClip};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout (after the warm-up).
    #[default]
    Constant,
    /// Linear down to zero at the run's end, as BertAdam's `warmup_linear`.
    Linear,
    /// Half a cosine from the base rate to zero.
    Cosine,
}

/// Which gradient clipping the backbone's updates use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipMode {
    /// No clipping.
    #[default]
    None,
    /// Each parameter tensor to `max_grad_norm` (BertAdam).
    PerTensor,
    /// The whole gradient by its global norm.
    Global,
}

/// The `[optimizer]` table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Base learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Adam's denominator guard.
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW), or an L2 term in the gradient.
    pub decoupled: bool,
    /// The learning-rate schedule.
    #[serde(skip_serializing_if = "is_default")]
    pub schedule: LrSchedule,
    /// Linear warm-up from 0 over this fraction of the run's steps.
    #[serde(skip_serializing_if = "is_default")]
    pub warmup: f32,
    /// Gradient clipping.
    #[serde(skip_serializing_if = "is_default")]
    pub clip: ClipMode,
    /// The norm `clip` limits to.
    #[serde(skip_serializing_if = "is_one")]
    pub max_grad_norm: f32,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_one(v: &f32) -> bool {
    *v == 1.0
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        let a = AdamConfig::default();
        OptimizerConfig {
            lr: a.lr,
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            weight_decay: a.weight_decay,
            decoupled: a.decoupled,
            schedule: LrSchedule::Constant,
            warmup: 0.0,
            clip: ClipMode::None,
            max_grad_norm: 1.0,
        }
    }
}

impl OptimizerConfig {
    /// Adam's settings at the base learning rate.
    pub fn adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.decoupled,
        }
    }

    /// The clipping of a backbone whose tensors are `blocks`.
    pub fn grad_clip(&self, blocks: Vec<Range<usize>>) -> GradClip {
        match self.clip {
            ClipMode::None => GradClip::None,
            ClipMode::PerTensor => GradClip::PerTensor {
                max_norm: self.max_grad_norm,
                blocks,
            },
            ClipMode::Global => GradClip::Global {
                max_norm: self.max_grad_norm,
            },
        }
    }

    /// The learning rate of step `step` (0-based) of `total`.
    pub fn lr_at(&self, step: u64, total: u64) -> f32 {
        // Exactly the base rate when nothing is scheduled (bit-identical
        // to a run without a schedule).
        if self.schedule == LrSchedule::Constant && self.warmup == 0.0 {
            return self.lr;
        }
        self.lr
            * lr_factor(
                self.schedule,
                self.warmup,
                step as f64 / total.max(1) as f64,
            )
    }

    /// Checks the values; errors name the field and the value.
    pub fn check(&self) -> Result<()> {
        let bad = |field: &str, value: f32, reason: &str| {
            Err(Error::InvalidSetting {
                field: format!("optimizer.{field}"),
                value: value.to_string(),
                reason: reason.into(),
            })
        };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr, "must be a positive number");
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", self.eps, "must be a positive number");
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(name, b, "must be in [0, 1)");
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "must be 0 or more");
        }
        if !(0.0..1.0).contains(&self.warmup) {
            return bad(
                "warmup",
                self.warmup,
                "a fraction of the run's steps in [0, 1)",
            );
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return bad(
                "max_grad_norm",
                self.max_grad_norm,
                "must be a positive number",
            );
        }
        Ok(())
    }
}

/// The factor on the base rate at progress `x = step / total`: a linear
/// warm-up `x / warmup`, then the schedule (BertAdam's `warmup_linear` is
/// `(1 − x) / (1 − warmup)`; the cosine runs from the warm-up's end).
pub fn lr_factor(schedule: LrSchedule, warmup: f32, x: f64) -> f32 {
    let w = warmup as f64;
    if x < w {
        return (x / w) as f32;
    }
    let f = match schedule {
        LrSchedule::Constant => 1.0,
        LrSchedule::Linear => ((1.0 - x) / (1.0 - w)).max(0.0),
        LrSchedule::Cosine => {
            let t = ((x - w) / (1.0 - w)).clamp(0.0, 1.0);
            0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    };
    f as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_bertadams_warmup_linear() {
        // pytorch-pretrained-bert: warmup_linear(x, w) = x/w if x < w else
        // max((x - 1)/(w - 1), 0), evaluated at x = step / t_total.
        let reference = |x: f64, w: f64| {
            if x < w {
                x / w
            } else {
                ((x - 1.0) / (w - 1.0)).max(0.0)
            }
        };
        for w in [0.0f32, 0.1, 0.25] {
            for step in 0..=40u64 {
                let x = step as f64 / 40.0;
                let got = lr_factor(LrSchedule::Linear, w, x) as f64;
                assert!(
                    (got - reference(x, w as f64)).abs() < 1e-6,
                    "w {w} step {step}: {got}"
                );
            }
        }
        // Halfway through a run without warm-up: half the rate; the last
        // step of 10: a tenth.
        let c = OptimizerConfig {
            lr: 0.2,
            schedule: LrSchedule::Linear,
            ..Default::default()
        };
        assert!((c.lr_at(5, 10) - 0.1).abs() < 1e-7 && (c.lr_at(9, 10) - 0.02).abs() < 1e-7);
    }

    #[test]
    fn cosine_and_constant_with_warmup_take_their_analytic_values() {
        let f = |s, x| lr_factor(s, 0.2, x);
        assert!((f(LrSchedule::Constant, 0.1) - 0.5).abs() < 1e-7);
        assert_eq!(f(LrSchedule::Constant, 0.7), 1.0);
        assert!((f(LrSchedule::Cosine, 0.2) - 1.0).abs() < 1e-7);
        // A third of the way after the warm-up: (1 + cos(π/3)) / 2 = 0.75.
        assert!((f(LrSchedule::Cosine, 0.2 + 0.8 / 3.0) - 0.75).abs() < 1e-6);
        assert!(f(LrSchedule::Cosine, 1.0).abs() < 1e-7);
        assert!((f(LrSchedule::Linear, 0.05) - 0.25).abs() < 1e-7);
    }

    #[test]
    fn no_schedule_is_exactly_the_base_rate() {
        let c = OptimizerConfig {
            lr: 3e-4,
            ..Default::default()
        };
        assert!((0..100).all(|s| c.lr_at(s, 100).to_bits() == 3e-4f32.to_bits()));
    }

    #[test]
    fn the_table_parses_names_and_refuses_bad_values_by_field() {
        let c: OptimizerConfig =
            toml::from_str("lr = 1e-4\nschedule = \"linear\"\nwarmup = 0.1\nclip = \"per_tensor\"")
                .unwrap();
        assert_eq!(
            (c.schedule, c.clip, c.max_grad_norm),
            (LrSchedule::Linear, ClipMode::PerTensor, 1.0)
        );
        assert!(toml::from_str::<OptimizerConfig>("schedule = \"step\"").is_err());
        let e = OptimizerConfig { warmup: 1.0, ..c }
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("optimizer.warmup") && e.contains('1'), "{e}");
        let e = OptimizerConfig { eps: 0.0, ..c }
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("optimizer.eps"), "{e}");
        // Unset fields are not written: a run file without them keeps its text.
        assert!(!toml::to_string(&OptimizerConfig::default())
            .unwrap()
            .contains("schedule"));
    }
}
