//! `Sum`: the plain multi-task loss `f(l) = Σ_k l_k`; every weight is 1.

use super::{check_direction, check_losses, Evaluation, MetaLoss};
use crate::error::Result;
use crate::tensor::ParamBlock;
use crate::tensor::{device, ParamVec};
use serde::{Deserialize, Serialize};

/// The plain sum of the task losses. Takes any number of losses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sum {}

#[typetag::serde(name = "sum")]
impl MetaLoss for Sum {
    fn num_tasks(&self) -> Option<usize> {
        None
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, None)?;
        Ok(Evaluation {
            value: losses.iter().sum(),
            weights: vec![1.0; losses.len()],
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
        check_losses(losses, None)?;
        Ok(self.params())
    }

    fn mixed_grad(&self, losses: &[f32], direction: &[f32]) -> Result<ParamVec> {
        check_losses(losses, None)?;
        check_direction(direction, losses.len())?;
        Ok(self.params())
    }
}
