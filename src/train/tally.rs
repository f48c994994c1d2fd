//! Running figures of the loop: per-task means of the steps' losses and
//! weights, and the health of the weights.

use super::step::StepOutcome;
use serde::{Deserialize, Serialize};

/// Per-position means of vectors seen one at a time (f64 sums).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Means {
    sums: Vec<f64>,
    count: u64,
}

impl Means {
    /// Means of `k` numbers, none seen yet.
    pub fn new(k: usize) -> Means {
        Means {
            sums: vec![0.0; k],
            count: 0,
        }
    }

    /// Adds one vector of `k` numbers.
    pub fn add(&mut self, values: &[f32]) {
        for (s, v) in self.sums.iter_mut().zip(values) {
            *s += *v as f64;
        }
        self.count += 1;
    }

    /// The means (zeros before any vector).
    pub fn means(&self) -> Vec<f32> {
        let n = self.count.max(1) as f64;
        self.sums.iter().map(|s| (s / n) as f32).collect()
    }
}

/// An epoch's taken steps: their mean losses and weights, and the weights' health.
#[derive(Debug, Clone, Default)]
pub struct EpochTally {
    /// Mean of each task's loss.
    pub losses: Means,
    /// Mean of each task's weight.
    pub weights: Means,
    /// Steps whose weights vanished or turned negative.
    pub health: WeightHealth,
}

impl EpochTally {
    /// A tally of `k` tasks.
    pub fn new(k: usize) -> EpochTally {
        EpochTally {
            losses: Means::new(k),
            weights: Means::new(k),
            health: WeightHealth::default(),
        }
    }

    /// Counts one taken step.
    pub fn see(&mut self, done: &StepOutcome) {
        self.losses.add(&done.losses);
        self.weights.add(&done.weights);
        self.health.see(&done.weights);
    }
}

/// Steps whose per-task weights `∂f/∂l_k` went where a loss must not: a
/// total that vanished (below 1 % of the plain sum's `K`, the backbone
/// stops learning) or a negative weight (gradient ascent on that task).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightHealth {
    /// Steps taken.
    pub steps: u64,
    /// Steps whose total weight was below `0.01 · K`.
    pub vanished: u64,
    /// Steps with a negative weight.
    pub negative: u64,
    /// The smallest total weight seen (`null` before any step).
    pub min_total: Option<f32>,
    /// The smallest single weight seen.
    pub min_weight: Option<f32>,
}

impl WeightHealth {
    /// Counts one step's weights.
    pub fn see(&mut self, weights: &[f32]) {
        let total: f32 = weights.iter().sum();
        let least = weights.iter().cloned().fold(f32::INFINITY, f32::min);
        self.steps += 1;
        self.vanished += u64::from(total < 0.01 * weights.len() as f32);
        self.negative += u64::from(least < 0.0);
        self.min_total = Some(self.min_total.map_or(total, |m| m.min(total)));
        self.min_weight = Some(self.min_weight.map_or(least, |m| m.min(least)));
    }

    /// Adds another run of steps' counts.
    pub fn add(&mut self, o: &WeightHealth) {
        let min = |a: Option<f32>, b: Option<f32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.steps += o.steps;
        self.vanished += o.vanished;
        self.negative += o.negative;
        self.min_total = min(self.min_total, o.min_total);
        self.min_weight = min(self.min_weight, o.min_weight);
    }

    /// Whether any step's weights vanished or turned negative.
    pub fn alarmed(&self) -> bool {
        self.vanished > 0 || self.negative > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_per_position_and_zero_before_any_vector() {
        let mut m = Means::new(2);
        assert_eq!(m.means(), [0.0, 0.0]);
        m.add(&[1.0, -2.0]);
        m.add(&[2.0, 4.0]);
        assert_eq!(m.means(), [1.5, 1.0]);
    }
}
