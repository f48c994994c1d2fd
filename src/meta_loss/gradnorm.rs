//! GradNorm (Chen et al., ICML 2018): `f(l) = Σ_k w_k l_k` with weights
//! that balance the tasks' gradient norms. After every backbone step, with
//! `g_k = ‖∇_w l_k‖` (the trainer computes them for this combinator),
//! `G_k = w_k g_k`, `Ḡ` their mean, `r_k = (l_k / l_k(0)) / mean_j(l_j / l_j(0))`
//! the task's relative inverse training rate, the weights take a plain
//! gradient step on `Σ_k |G_k − Ḡ r_k^α|` (the target held constant, as
//! in the paper): `w_k ← w_k − lr · sign(G_k − Ḡ r_k^α) · g_k`, are kept
//! above `1e-3` and renormalised to `Σ_k w_k = K`.
//!
//! The paper takes `g_k` on the last shared layer; a backbone declares no
//! such layer, so `g_k` here is over all of the backbone's parameters (a
//! task's own head adds to its norm). The state is `[w (K), l(0) (K),
//! started]`.

use super::adaptive::{
    adaptive_state_methods, check_positive, check_seen, check_tasks, Observation, State,
};
use super::{check_losses, Evaluation, MetaLoss};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// GradNorm; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GradNormSpec", into = "GradNormSpec")]
pub struct GradNorm {
    k: usize,
    alpha: f32,
    lr: f32,
    state: State,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GradNormSpec {
    tasks: usize,
    #[serde(default = "default_alpha")]
    alpha: f32,
    #[serde(default = "default_lr")]
    lr: f32,
}

fn default_alpha() -> f32 {
    1.5
}

fn default_lr() -> f32 {
    0.025
}

impl TryFrom<GradNormSpec> for GradNorm {
    type Error = Error;
    fn try_from(s: GradNormSpec) -> Result<Self> {
        GradNorm::new(s.tasks, s.alpha, s.lr)
    }
}

impl From<GradNorm> for GradNormSpec {
    fn from(g: GradNorm) -> Self {
        GradNormSpec {
            tasks: g.k,
            alpha: g.alpha,
            lr: g.lr,
        }
    }
}

impl GradNorm {
    /// K tasks, asymmetry `alpha` (1.5 in the paper), step size `lr`
    /// (0.025 in the paper); every weight starts at 1.
    pub fn new(tasks: usize, alpha: f32, lr: f32) -> Result<GradNorm> {
        check_tasks(tasks)?;
        check_positive("lr", lr)?;
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(Error::InvalidSetting {
                field: "meta_loss.alpha".into(),
                value: alpha.to_string(),
                reason: "must be 0 or more".into(),
            });
        }
        let mut values = vec![1.0; tasks];
        values.extend(vec![0.0; tasks + 1]);
        Ok(GradNorm {
            k: tasks,
            alpha,
            lr,
            state: State {
                name: "gradnorm",
                values,
            },
        })
    }

    /// The current weights.
    pub fn weights(&self) -> &[f32] {
        &self.state.values[..self.k]
    }
}

#[typetag::serde(name = "gradnorm")]
impl MetaLoss for GradNorm {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.k)
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, Some(self.k))?;
        let weights = self.weights().to_vec();
        let value = losses.iter().zip(&weights).map(|(l, w)| l * w).sum();
        Ok(Evaluation { value, weights })
    }

    adaptive_state_methods!();

    fn wants_grad_norms(&self) -> bool {
        true
    }

    fn observe(&mut self, seen: &Observation) -> Result<()> {
        let Observation::Step { losses, grad_norms } = seen else {
            return Ok(());
        };
        let k = self.k;
        check_seen("losses", losses, k)?;
        let g = grad_norms.ok_or_else(|| Error::InvalidSetting {
            field: "meta_loss".into(),
            value: "gradnorm".into(),
            reason: "needs each task's gradient norm, which this trainer did not give".into(),
        })?;
        check_seen("gradient norms", g, k)?;
        let v = &mut self.state.values;
        if v[2 * k] == 0.0 {
            v[k..2 * k].copy_from_slice(losses);
            v[2 * k] = 1.0;
        }
        let ratio: Vec<f64> = (0..k)
            .map(|i| losses[i] as f64 / (v[k + i] as f64).max(1e-12))
            .collect();
        let mean_ratio = ratio.iter().sum::<f64>() / k as f64;
        let big_g: Vec<f64> = (0..k).map(|i| v[i] as f64 * g[i] as f64).collect();
        let mean_g = big_g.iter().sum::<f64>() / k as f64;
        for i in 0..k {
            let target = mean_g * (ratio[i] / mean_ratio.max(1e-12)).powf(self.alpha as f64);
            let sign = (big_g[i] - target).signum();
            let step = if big_g[i] == target {
                0.0
            } else {
                sign * g[i] as f64
            };
            v[i] = (v[i] as f64 - self.lr as f64 * step).max(1e-3) as f32;
        }
        let total: f32 = v[..k].iter().sum();
        for w in &mut v[..k] {
            *w *= k as f32 / total;
        }
        Ok(())
    }
}
