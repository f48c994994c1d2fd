//! `LearnedLinear`: learned non-negative weights, `f(l) = Σ_k softplus(θ_k) l_k`.
//!
//! `∂f/∂l_k = softplus(θ_k) ≥ 0`, `∂f/∂θ_k = σ(θ_k) l_k`, and the head term
//! is `∂/∂θ_k Σ_j c_j softplus(θ_j) = σ(θ_k) c_k`.

use super::{check_direction, check_losses, Evaluation, MetaLoss};
use crate::error::{check_finite, Error, Result};
use crate::tensor::ParamBlock;
use crate::tensor::{device, ParamVec};
use serde::{Deserialize, Serialize};

/// Learned non-negative task weights (softplus of free parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LearnedLinearSpec", into = "LearnedLinearSpec")]
pub struct LearnedLinear {
    theta: Vec<f32>,
}

/// The TOML form: the number of tasks and optionally the starting weights
/// (default: all 1).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LearnedLinearSpec {
    tasks: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<Vec<f32>>,
}

impl TryFrom<LearnedLinearSpec> for LearnedLinear {
    type Error = Error;
    fn try_from(s: LearnedLinearSpec) -> Result<Self> {
        match s.weights {
            Some(w) => {
                if w.len() != s.tasks {
                    return Err(Error::Length {
                        what: "weights".into(),
                        expected: s.tasks,
                        found: w.len(),
                    });
                }
                LearnedLinear::with_weights(&w)
            }
            None => LearnedLinear::new(s.tasks),
        }
    }
}

impl From<LearnedLinear> for LearnedLinearSpec {
    fn from(l: LearnedLinear) -> Self {
        LearnedLinearSpec {
            tasks: l.theta.len(),
            weights: Some(l.theta.iter().map(|&t| softplus(t)).collect()),
        }
    }
}

fn softplus(x: f32) -> f32 {
    // Stable for large |x|: max(x, 0) + ln(1 + e^{-|x|}).
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl LearnedLinear {
    /// `tasks` weights, all starting at 1.
    pub fn new(tasks: usize) -> Result<LearnedLinear> {
        super::check_num_tasks(tasks)?;
        LearnedLinear::with_weights(&vec![1.0; tasks])
    }

    /// Starting weights; each must be positive and finite.
    pub fn with_weights(weights: &[f32]) -> Result<LearnedLinear> {
        super::check_num_tasks(weights.len())?;
        check_finite("weights", weights, weights.len())?;
        if let Some(w) = weights.iter().find(|w| **w <= 0.0) {
            return Err(Error::InvalidSetting {
                field: "weights".into(),
                value: w.to_string(),
                reason: "learned weights start positive".into(),
            });
        }
        // Inverse softplus: θ = ln(e^w − 1) = w + ln(1 − e^{−w}).
        let theta = weights.iter().map(|&w| w + (-(-w).exp()).ln_1p()).collect();
        Ok(LearnedLinear { theta })
    }
}

#[typetag::serde(name = "learned_linear")]
impl MetaLoss for LearnedLinear {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.theta.len())
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, self.num_tasks())?;
        let weights: Vec<f32> = self.theta.iter().map(|&t| softplus(t)).collect();
        Ok(Evaluation {
            value: losses.iter().zip(&weights).map(|(l, w)| l * w).sum(),
            weights,
        })
    }

    fn param_layout(&self) -> Vec<ParamBlock> {
        vec![ParamBlock {
            name: "theta".into(),
            shape: vec![self.theta.len()],
        }]
    }

    // θ is K numbers: it is kept on the host, and crosses as K floats, as
    // the losses do.
    fn params(&self) -> ParamVec {
        ParamVec::from_vec(&device(), self.theta.clone())
    }

    fn set_params(&mut self, params: &ParamVec) -> Result<()> {
        params.check("params", self.theta.len())?;
        self.theta = params.to_vec();
        Ok(())
    }

    fn param_grad(&self, losses: &[f32], upstream: f32) -> Result<ParamVec> {
        check_losses(losses, self.num_tasks())?;
        let g = self.theta.iter().zip(losses);
        let g = g.map(|(&t, &l)| upstream * sigmoid(t) * l).collect();
        Ok(ParamVec::from_vec(&device(), g))
    }

    fn mixed_grad(&self, losses: &[f32], direction: &[f32]) -> Result<ParamVec> {
        check_losses(losses, self.num_tasks())?;
        check_direction(direction, losses.len())?;
        let g = self.theta.iter().zip(direction);
        let g = g.map(|(&t, &c)| sigmoid(t) * c).collect();
        Ok(ParamVec::from_vec(&device(), g))
    }
}
