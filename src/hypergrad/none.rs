//! `none`: no meta step (plain multi-task sum, fixed weights).

use super::{BilevelProblem, HypergradStrategy};
use crate::error::Result;
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};

/// Takes no meta step; the head (if any) stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoMeta {}

#[typetag::serde(name = "none")]
impl HypergradStrategy for NoMeta {
    fn direction(&self, _: &mut dyn BilevelProblem) -> Result<Option<ParamVec>> {
        Ok(None)
    }
}
