//! Dynamic weight average (Liu, Johns and Davison, CVPR 2019):
//! `f(l) = Σ_k w_k l_k` with `w_k = K · softmax_k(r_k / T)`, where
//! `r_k = L_k(e−1) / L_k(e−2)` is how fast task k's mean epoch loss fell
//! over the last two epochs; every `w_k = 1` for the first two epochs.
//! The state is the two last epoch means and the epochs seen (0..=2).

use super::adaptive::{
    adaptive_state_methods, check_positive, check_seen, check_tasks, Observation, State,
};
use super::{check_losses, Evaluation, MetaLoss};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Dynamic weight average; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DwaSpec", into = "DwaSpec")]
pub struct Dwa {
    k: usize,
    temperature: f32,
    /// `[L(e−1) (K), L(e−2) (K), epochs seen]`.
    state: State,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DwaSpec {
    tasks: usize,
    #[serde(default = "default_temperature")]
    temperature: f32,
}

fn default_temperature() -> f32 {
    2.0
}

impl TryFrom<DwaSpec> for Dwa {
    type Error = Error;
    fn try_from(s: DwaSpec) -> Result<Self> {
        Dwa::new(s.tasks, s.temperature)
    }
}

impl From<Dwa> for DwaSpec {
    fn from(d: Dwa) -> Self {
        DwaSpec {
            tasks: d.k,
            temperature: d.temperature,
        }
    }
}

impl Dwa {
    /// K tasks, temperature `T` (2 in the paper).
    pub fn new(tasks: usize, temperature: f32) -> Result<Dwa> {
        check_tasks(tasks)?;
        check_positive("temperature", temperature)?;
        Ok(Dwa {
            k: tasks,
            temperature,
            state: State {
                name: "epoch_losses",
                values: vec![0.0; 2 * tasks + 1],
            },
        })
    }

    /// The weights of the coming epoch.
    pub fn weights(&self) -> Vec<f32> {
        let (k, v) = (self.k, &self.state.values);
        if v[2 * k] < 2.0 {
            return vec![1.0; k];
        }
        let r: Vec<f64> = (0..k)
            .map(|i| v[i] as f64 / (v[k + i] as f64).max(1e-12) / self.temperature as f64)
            .collect();
        let top = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = r.iter().map(|x| (x - top).exp()).collect();
        let total: f64 = e.iter().sum();
        e.iter().map(|x| (k as f64 * x / total) as f32).collect()
    }
}

#[typetag::serde(name = "dwa")]
impl MetaLoss for Dwa {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.k)
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, Some(self.k))?;
        let weights = self.weights();
        let value = losses.iter().zip(&weights).map(|(l, w)| l * w).sum();
        Ok(Evaluation { value, weights })
    }

    adaptive_state_methods!();

    fn observe(&mut self, seen: &Observation) -> Result<()> {
        if let Observation::Epoch { mean_losses } = seen {
            check_seen("mean losses", mean_losses, self.k)?;
            let (k, v) = (self.k, &mut self.state.values);
            v.copy_within(0..k, k);
            v[..k].copy_from_slice(mean_losses);
            v[2 * k] = (v[2 * k] + 1.0).min(2.0);
        }
        Ok(())
    }
}
