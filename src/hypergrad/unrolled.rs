//! `unrolled`: one-step unrolled differentiation (Meta-Weight-Net style).
//!
//! The outer loss after one inner step, `L_out(w − η ∇_w f_φ(l(w)), φ)`, has
//! the derivative `∂L_out/∂φ|_{w'} − η ∂/∂φ [g'ᵀ ∇_w f_φ(l(w))]` with
//! `g' = ∇_w L_out(w')`: the engine's formula with `v = η g'`.
//! Extra cost over AID-FP-Lite: one backward (the inner step's gradient).

use super::{BilevelProblem, HypergradStrategy};
use crate::error::{Error, Result};
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};

/// One-step unrolled hypergradient.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "UnrolledSpec", into = "UnrolledSpec")]
pub struct Unrolled {
    /// The inner step size `η`.
    pub lr: f32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnrolledSpec {
    lr: f32,
}

impl TryFrom<UnrolledSpec> for Unrolled {
    type Error = Error;
    fn try_from(s: UnrolledSpec) -> Result<Self> {
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err(Error::InvalidSetting {
                field: "lr".into(),
                value: s.lr.to_string(),
                reason: "must be a positive number".into(),
            });
        }
        Ok(Unrolled { lr: s.lr })
    }
}

impl From<Unrolled> for UnrolledSpec {
    fn from(u: Unrolled) -> Self {
        UnrolledSpec { lr: u.lr }
    }
}

#[typetag::serde(name = "unrolled")]
impl HypergradStrategy for Unrolled {
    fn direction(&self, p: &mut dyn BilevelProblem) -> Result<Option<ParamVec>> {
        let mut v = p.outer_grad_after_step(self.lr)?;
        v.scale(self.lr);
        Ok(Some(v))
    }
}
