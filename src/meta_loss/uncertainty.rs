//! Uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018), as LibMTL
//! writes it: `f(l) = Σ_k ( l_k / (2 e^{s_k}) + s_k / 2 )`, with one
//! learned log-variance `s_k` per task trained on the same loss as the
//! backbone. Here `s` takes a plain gradient step of `lr` after every
//! backbone step, `s ← s − lr · ∂f/∂s = s − lr · (1 − l e^{−s}) / 2`
//! (a stateless optimiser, so a checkpoint of `s` resumes exactly); its
//! fixed point is `s_k = ln l_k`, a weight `1 / (2 l_k)`.

use super::adaptive::{
    adaptive_state_methods, check_positive, check_seen, check_tasks, Observation, State,
};
use super::{check_losses, Evaluation, MetaLoss};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Uncertainty weighting; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UncertaintySpec", into = "UncertaintySpec")]
pub struct Uncertainty {
    lr: f32,
    state: State,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UncertaintySpec {
    tasks: usize,
    #[serde(default = "default_lr")]
    lr: f32,
}

fn default_lr() -> f32 {
    0.01
}

impl TryFrom<UncertaintySpec> for Uncertainty {
    type Error = Error;
    fn try_from(s: UncertaintySpec) -> Result<Self> {
        Uncertainty::new(s.tasks, s.lr)
    }
}

impl From<Uncertainty> for UncertaintySpec {
    fn from(u: Uncertainty) -> Self {
        UncertaintySpec {
            tasks: u.state.values.len(),
            lr: u.lr,
        }
    }
}

impl Uncertainty {
    /// K tasks, every `s_k = 0`, step size `lr`.
    pub fn new(tasks: usize, lr: f32) -> Result<Uncertainty> {
        check_tasks(tasks)?;
        check_positive("lr", lr)?;
        Ok(Uncertainty {
            lr,
            state: State {
                name: "log_variance",
                values: vec![0.0; tasks],
            },
        })
    }

    /// The log-variances `s`.
    pub fn log_variances(&self) -> &[f32] {
        &self.state.values
    }
}

#[typetag::serde(name = "uncertainty")]
impl MetaLoss for Uncertainty {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.state.values.len())
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, self.num_tasks())?;
        let s = &self.state.values;
        let weights: Vec<f32> = s.iter().map(|s| 0.5 * (-s).exp()).collect();
        let value = losses
            .iter()
            .zip(&weights)
            .zip(s)
            .map(|((l, w), s)| w * l + 0.5 * s)
            .sum();
        Ok(Evaluation { value, weights })
    }

    adaptive_state_methods!();

    fn observe(&mut self, seen: &Observation) -> Result<()> {
        if let Observation::Step { losses, .. } = seen {
            check_seen("losses", losses, self.state.values.len())?;
            for (s, l) in self.state.values.iter_mut().zip(*losses) {
                *s -= self.lr * 0.5 * (1.0 - l * (-*s).exp());
            }
        }
        Ok(())
    }
}
