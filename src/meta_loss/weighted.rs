//! `Weighted`: fixed weights, `f(l) = Σ_k w_k l_k`.

use super::{check_direction, check_losses, Evaluation, MetaLoss};
use crate::error::{check_finite, Error, Result};
use crate::tensor::ParamBlock;
use crate::tensor::{device, ParamVec};
use serde::{Deserialize, Serialize};

/// A fixed weighted sum of the task losses; nothing is learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "WeightedSpec")]
pub struct Weighted {
    weights: Vec<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedSpec {
    weights: Vec<f32>,
}

impl TryFrom<WeightedSpec> for Weighted {
    type Error = Error;
    fn try_from(s: WeightedSpec) -> Result<Self> {
        Weighted::new(s.weights)
    }
}

impl Weighted {
    /// Fixed weights, one per task; they must be finite and at least one given.
    pub fn new(weights: Vec<f32>) -> Result<Weighted> {
        if weights.is_empty() {
            return Err(Error::InvalidSetting {
                field: "weights".into(),
                value: "[]".into(),
                reason: "give one weight per task".into(),
            });
        }
        check_finite("weights", &weights, weights.len())?;
        Ok(Weighted { weights })
    }

    /// The weights.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
}

#[typetag::serde(name = "weighted")]
impl MetaLoss for Weighted {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.weights.len())
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, self.num_tasks())?;
        Ok(Evaluation {
            value: losses.iter().zip(&self.weights).map(|(l, w)| l * w).sum(),
            weights: self.weights.clone(),
        })
    }

    fn param_layout(&self) -> Vec<ParamBlock> {
        vec![]
    }

    fn params(&self) -> ParamVec {
        ParamVec::zeros(&device(), 0)
    }

    fn set_params(&mut self, params: &ParamVec) -> Result<()> {
        params.check("params", 0)
    }

    fn param_grad(&self, losses: &[f32], _upstream: f32) -> Result<ParamVec> {
        check_losses(losses, self.num_tasks())?;
        Ok(self.params())
    }

    fn mixed_grad(&self, losses: &[f32], direction: &[f32]) -> Result<ParamVec> {
        check_losses(losses, self.num_tasks())?;
        check_direction(direction, losses.len())?;
        Ok(self.params())
    }
}
