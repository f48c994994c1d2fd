//! `neumann`: AuxLearn's truncated Neumann series for the inverse Hessian,
//! `v = Σ_{j=0..N} (I − αH)^j ∇_w L_out`.
//!
//! The exact series is `H⁻¹ ≈ α Σ_j (I − αH)^j`; AuxLearn's code leaves the
//! leading `α` out so that `terms = 0` equals AID-FP-Lite. That is the
//! default here (`leading_alpha = false`); set `leading_alpha = true` for the
//! exact approximation, which converges to `H⁻¹ ∇_w L_out` when
//! `0 < α < 2/λ_max(H)`. Extra cost: `2·terms` backwards.

use super::{BilevelProblem, HypergradStrategy};
use crate::error::{Error, Result};
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};

/// Truncated Neumann series (AuxLearn).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "NeumannSpec", into = "NeumannSpec")]
pub struct Neumann {
    /// Number of terms beyond the first.
    pub terms: usize,
    /// Step `α`.
    pub alpha: f32,
    /// Multiply the series by `α` (the exact approximation of `H⁻¹`).
    pub leading_alpha: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NeumannSpec {
    #[serde(default = "default_terms")]
    terms: usize,
    #[serde(default = "default_alpha")]
    alpha: f32,
    #[serde(default)]
    leading_alpha: bool,
}

fn default_terms() -> usize {
    3
}

fn default_alpha() -> f32 {
    0.1
}

impl TryFrom<NeumannSpec> for Neumann {
    type Error = Error;
    fn try_from(s: NeumannSpec) -> Result<Self> {
        if !(s.alpha.is_finite() && s.alpha > 0.0) {
            return Err(Error::InvalidSetting {
                field: "alpha".into(),
                value: s.alpha.to_string(),
                reason: "must be a positive number".into(),
            });
        }
        Ok(Neumann {
            terms: s.terms,
            alpha: s.alpha,
            leading_alpha: s.leading_alpha,
        })
    }
}

impl From<Neumann> for NeumannSpec {
    fn from(n: Neumann) -> Self {
        NeumannSpec {
            terms: n.terms,
            alpha: n.alpha,
            leading_alpha: n.leading_alpha,
        }
    }
}

#[typetag::serde(name = "neumann")]
impl HypergradStrategy for Neumann {
    fn direction(&self, p: &mut dyn BilevelProblem) -> Result<Option<ParamVec>> {
        let g = p.outer_grad()?;
        let mut term = g.clone();
        let mut sum = g;
        for _ in 0..self.terms {
            let h = p.hessian_vector(&term)?;
            term.axpy(-self.alpha, &h);
            sum.axpy(1.0, &term);
        }
        if self.leading_alpha {
            sum.scale(self.alpha);
        }
        Ok(Some(sum))
    }
}
