//! The run's random streams, each named and derived from the run file's
//! `seed` (and the step): batch order, the tasks' randomness, the head's
//! dropout, the meta step's batches, the warm start, pretraining's steps
//! and held-out batch. Each stream is a pure function of its inputs, so a
//! resumed run draws what an uninterrupted one draws.
//!
//! The salts are the streams' names in ASCII (`b"drop"` is `0x6472_6f70`),
//! fixed forever: changing one changes every run's numbers.

use crate::dataset::mix64;

/// A stream's salt: its four-letter name as a big-endian number.
const fn salt(name: &[u8; 4]) -> u64 {
    u32::from_be_bytes(*name) as u64
}

const DROPOUT: u64 = salt(b"drop");
const META_PAIR: u64 = salt(b"meta");
const HELD_OUT: u64 = salt(b"hold");
const WARM_START: u64 = salt(b"warm");
/// Pretraining's held-out batch (predates the named salts).
const PRETRAIN_EVAL: u64 = 0xE7A1;

/// The streams of a run with seed `.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds(pub u64);

impl Seeds {
    /// The shuffle of the training examples in `epoch` (zero-based).
    pub fn batch_order(self, epoch: usize) -> u64 {
        mix64(self.0 ^ mix64(epoch as u64 + 1))
    }

    /// Fine-tuning step `step`'s streams (`step` counts from 1).
    pub fn step(self, step: u64) -> StepSeeds {
        StepSeeds(mix64(self.0.wrapping_add(step)))
    }

    /// The warm start's tasks' randomness.
    pub fn warm_start(self) -> u64 {
        mix64(self.0 ^ WARM_START)
    }

    /// Pretraining step `step`'s tasks' randomness (`step` counts from 0).
    pub fn pretrain_step(self, step: u64) -> u64 {
        mix64(self.0 ^ mix64(step))
    }

    /// The tasks' randomness on pretraining's held-out batch.
    pub fn pretrain_eval(self) -> u64 {
        mix64(self.0 ^ PRETRAIN_EVAL)
    }
}

/// The streams of one fine-tuning step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSeeds(pub u64);

impl StepSeeds {
    /// The tasks' randomness of the step (and of its batch in the ring).
    pub fn tasks(self) -> u64 {
        self.0
    }

    /// The head's dropout mask during the step and its meta step.
    pub fn dropout(self) -> u64 {
        mix64(self.0 ^ DROPOUT)
    }

    /// Which two ring batches the meta step draws.
    pub fn meta_pair(self) -> u64 {
        mix64(self.0 ^ META_PAIR)
    }

    /// The held-out batch of the meta step's primary loss.
    pub fn held_out(self) -> u64 {
        mix64(self.0 ^ HELD_OUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_salts_are_the_numbers_runs_were_made_with() {
        assert_eq!(
            [DROPOUT, META_PAIR, HELD_OUT, WARM_START],
            [0x6472_6f70, 0x6d65_7461, 0x686f_6c64, 0x7761_726d]
        );
    }
}
