//! The training loop's events and the parts that watch them: the log and
//! its TensorBoard file (`run_log.rs`), checkpoints (`checkpointer.rs`),
//! the rank-agreement check (`rank_check.rs`), progress displays
//! ([`Progress`]) and pretraining's loss windows. The loop itself only
//! trains; an observer's error stops it.

use super::step::StepOutcome;
use super::tally::WeightHealth;
use super::trainer::{EpochReport, RunSummary, Trainer};
use crate::error::Result;
use crate::hypergrad::MetaOutcome;
use crate::meta_loss::SumFit;

/// Where a backbone step stands in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepAt {
    /// Zero-based epoch (0 throughout pretraining).
    pub epoch: usize,
    /// The run's step counter (fine-tuning counts from 1, pretraining from 0).
    pub step: u64,
    /// Step within the epoch (1-based).
    pub index: usize,
    /// Steps in the epoch.
    pub of: usize,
}

/// Watches the loop; every method defaults to doing nothing.
pub trait Observer {
    /// A fresh run's head was fitted to the plain sum (before, after).
    fn warm_start(&mut self, _fit: &(SumFit, SumFit)) -> Result<()> {
        Ok(())
    }
    /// A backbone step was taken.
    fn step(&mut self, _at: &StepAt, _done: &StepOutcome) -> Result<()> {
        Ok(())
    }
    /// A backbone step was skipped for a non-finite value.
    fn skip(&mut self, _at: &StepAt) -> Result<()> {
        Ok(())
    }
    /// A meta step ran after the step at `at`.
    fn meta_step(&mut self, _at: &StepAt, _outcome: &MetaOutcome) -> Result<()> {
        Ok(())
    }
    /// An epoch ended: its figures, its weights' health and the run's state.
    fn epoch(
        &mut self,
        _report: &EpochReport,
        _health: &WeightHealth,
        _run: &Trainer,
    ) -> Result<()> {
        Ok(())
    }
    /// The run ended.
    fn end(&mut self, _summary: &RunSummary) -> Result<()> {
        Ok(())
    }
}

/// An observer lent to the loop (to read its figures afterwards).
impl<T: Observer + ?Sized> Observer for &mut T {
    fn warm_start(&mut self, fit: &(SumFit, SumFit)) -> Result<()> {
        (**self).warm_start(fit)
    }
    fn step(&mut self, at: &StepAt, done: &StepOutcome) -> Result<()> {
        (**self).step(at, done)
    }
    fn skip(&mut self, at: &StepAt) -> Result<()> {
        (**self).skip(at)
    }
    fn meta_step(&mut self, at: &StepAt, outcome: &MetaOutcome) -> Result<()> {
        (**self).meta_step(at, outcome)
    }
    fn epoch(&mut self, report: &EpochReport, health: &WeightHealth, run: &Trainer) -> Result<()> {
        (**self).epoch(report, health, run)
    }
    fn end(&mut self, summary: &RunSummary) -> Result<()> {
        (**self).end(summary)
    }
}

/// Observers, told in order (the log before the checkpoint that records
/// its length).
#[derive(Default)]
pub struct Observers<'a>(pub Vec<Box<dyn Observer + 'a>>);

impl<'a> Observers<'a> {
    /// Adds one, told after those already added.
    pub fn push(&mut self, o: impl Observer + 'a) {
        self.0.push(Box::new(o));
    }

    /// Tells each in order; the first error stops.
    pub fn tell(&mut self, mut f: impl FnMut(&mut dyn Observer) -> Result<()>) -> Result<()> {
        self.0.iter_mut().try_for_each(|o| f(&mut **o))
    }
}

/// What a progress display is told.
#[derive(Debug, Clone)]
pub enum Event {
    /// A backbone step finished.
    Step {
        /// Zero-based epoch.
        epoch: usize,
        /// Step within the epoch (1-based).
        index: usize,
        /// Steps in the epoch.
        of: usize,
        /// The K losses of the step.
        losses: Vec<f32>,
    },
    /// An epoch finished and was evaluated.
    Epoch(EpochReport),
}

/// A progress display: a closure told of each step and epoch.
pub struct Progress<F: FnMut(&Event)>(pub F);

impl<F: FnMut(&Event)> Observer for Progress<F> {
    fn step(&mut self, at: &StepAt, done: &StepOutcome) -> Result<()> {
        (self.0)(&Event::Step {
            epoch: at.epoch,
            index: at.index,
            of: at.of,
            losses: done.losses.clone(),
        });
        Ok(())
    }
    fn epoch(&mut self, report: &EpochReport, _: &WeightHealth, _: &Trainer) -> Result<()> {
        (self.0)(&Event::Epoch(report.clone()));
        Ok(())
    }
}
