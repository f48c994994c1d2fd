//! `conjugate_gradient`: `v = (H + λI)⁻¹ ∇_w L_out` by `iters` steps of
//! conjugate gradient from zero. Extra cost: `2·iters` backwards.

use super::{BilevelProblem, HypergradStrategy};
use crate::error::{Error, Result};
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};

/// Conjugate gradient on the damped Hessian.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "CgSpec", into = "CgSpec")]
pub struct ConjugateGradient {
    /// Iterations (Hessian-vector products).
    pub iters: usize,
    /// Damping `λ` added to the Hessian's diagonal.
    pub damping: f32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CgSpec {
    #[serde(default = "default_iters")]
    iters: usize,
    #[serde(default)]
    damping: f32,
}

fn default_iters() -> usize {
    3
}

impl TryFrom<CgSpec> for ConjugateGradient {
    type Error = Error;
    fn try_from(s: CgSpec) -> Result<Self> {
        if !(s.damping.is_finite() && s.damping >= 0.0) {
            return Err(Error::InvalidSetting {
                field: "damping".into(),
                value: s.damping.to_string(),
                reason: "must be a non-negative number".into(),
            });
        }
        Ok(ConjugateGradient {
            iters: s.iters,
            damping: s.damping,
        })
    }
}

impl From<ConjugateGradient> for CgSpec {
    fn from(c: ConjugateGradient) -> Self {
        CgSpec {
            iters: c.iters,
            damping: c.damping,
        }
    }
}

#[typetag::serde(name = "conjugate_gradient")]
impl HypergradStrategy for ConjugateGradient {
    fn direction(&self, p: &mut dyn BilevelProblem) -> Result<Option<ParamVec>> {
        let b = p.outer_grad()?;
        let mut x = b.zeros_like();
        let mut r = b.clone();
        let mut d = b;
        let mut rr = r.dot(&r);
        for _ in 0..self.iters {
            if rr == 0.0 {
                break;
            }
            let hd = p.hessian_vector(&d)?.add_scaled(self.damping, &d);
            let curvature = d.dot(&hd);
            if !(curvature > 0.0) {
                // Negative or zero curvature: CG's step is undefined; keep
                // the iterate so far (or the gradient, if none yet).
                if x.norm() == 0.0 {
                    x = d;
                }
                break;
            }
            let step = rr / curvature;
            x.axpy(step, &d);
            r.axpy(-step, &hd);
            let rr_next = r.dot(&r);
            d = r.add_scaled(rr_next / rr, &d);
            rr = rr_next;
        }
        Ok(Some(x))
    }
}
