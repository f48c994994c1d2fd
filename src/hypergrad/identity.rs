//! `identity`: AID-FP-Lite, the paper's strategy. Implicit differentiation
//! with the inverse Hessian replaced by the identity: `v = ∇_w L_out`.
//! Extra cost: the outer gradient (one backward) and two forwards for `J v`.

use super::{BilevelProblem, HypergradStrategy};
use crate::error::Result;
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};

/// AID-FP-Lite (the default strategy).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {}

#[typetag::serde(name = "identity")]
impl HypergradStrategy for Identity {
    fn direction(&self, p: &mut dyn BilevelProblem) -> Result<Option<ParamVec>> {
        p.outer_grad().map(Some)
    }
}
