//! The reference code's meta schedule: a meta step every `meta_every`
//! backbone steps, drawing the primary-loss batch and the K-loss batch at
//! random from a ring of the last `ring` training batches. With `holdout`,
//! the primary-loss batch comes instead from training examples kept out of
//! the backbone's updates (AuxiLearn's held-out auxiliary set), so the head
//! is judged on data the backbone has not fitted.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// When meta steps happen and where their batches come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaSchedule {
    /// A meta step after every `meta_every` backbone steps (reference: 3; All-in-one: 5).
    pub meta_every: usize,
    /// How many recent training batches the ring keeps (reference: 10).
    pub ring: usize,
    /// Training examples held out of the backbone's updates for the meta
    /// step's primary loss (0, the reference: the primary loss uses a ring batch).
    pub holdout: usize,
}

impl Default for MetaSchedule {
    fn default() -> Self {
        MetaSchedule {
            meta_every: 3,
            ring: 10,
            holdout: 0,
        }
    }
}

impl MetaSchedule {
    /// Whether backbone step `step` (counted from 1) is followed by a meta step.
    pub fn is_meta_step(&self, step: u64) -> bool {
        self.meta_every > 0 && step % self.meta_every as u64 == 0
    }
}

/// The last N training batches with the seeds they were used with.
#[derive(Debug, Clone)]
pub struct BatchRing<B> {
    items: VecDeque<(B, u64)>,
    cap: usize,
}

impl<B> BatchRing<B> {
    /// An empty ring of capacity `cap` (≥ 1).
    pub fn new(cap: usize) -> Self {
        BatchRing {
            items: VecDeque::with_capacity(cap.max(1)),
            cap: cap.max(1),
        }
    }

    /// Adds a batch, dropping the oldest when full.
    pub fn push(&mut self, batch: B, seed: u64) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back((batch, seed));
    }

    /// Number of batches held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Two batches drawn at random (a pure function of `seed`), distinct when
    /// the ring holds two or more: `(meta batch for the primary loss,
    /// training batch for the K losses)`.
    pub fn draw_pair(&self, seed: u64) -> Option<(&(B, u64), &(B, u64))> {
        let n = self.items.len();
        if n == 0 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let i = rng.gen_range(0..n);
        let j = if n == 1 {
            i
        } else {
            (i + rng.gen_range(1..n)) % n
        };
        Some((&self.items[i], &self.items[j]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_n_and_draws_distinct_pairs() {
        let mut r = BatchRing::new(3);
        for i in 0..5u64 {
            r.push(i, 100 + i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.draw_pair(7), r.draw_pair(7));
        for seed in 0..50 {
            let (a, b) = r.draw_pair(seed).unwrap();
            assert_ne!(a.0, b.0);
            assert!(a.0 >= 2 && b.0 >= 2);
            assert_eq!(a.1, 100 + a.0);
        }
    }

    #[test]
    fn meta_every_three() {
        let s = MetaSchedule::default();
        let steps: Vec<u64> = (1..=9).filter(|&t| s.is_meta_step(t)).collect();
        assert_eq!(steps, vec![3, 6, 9]);
    }
}
