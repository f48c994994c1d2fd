//! When a run writes its checkpoint (`checkpoint.safetensors`) and its
//! outputs (`backbone.safetensors`, and `head.safetensors` for MELTR
//! heads): after every `every`-th epoch and after the last.

use super::observer::Observer;
use super::tally::WeightHealth;
use super::trainer::{EpochReport, Trainer};
use crate::backbone::save_backbone;
use crate::error::Result;
use crate::head::Meltr;
use std::path::PathBuf;

/// Which epochs end with a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Every this many epochs (and after the last).
    pub every: usize,
}

impl Default for CheckpointPolicy {
    /// Every epoch: a killed run loses at most one epoch.
    fn default() -> Self {
        CheckpointPolicy { every: 1 }
    }
}

impl CheckpointPolicy {
    /// Whether zero-based `epoch` of `epochs` ends with a checkpoint.
    pub fn due(&self, epoch: usize, epochs: usize) -> bool {
        epoch + 1 == epochs || (epoch + 1) % self.every.max(1) == 0
    }
}

/// Writes a run's checkpoint and outputs into a folder (rank 0), after
/// the log (whose length at the checkpoint it records).
pub struct Checkpointer {
    /// The folder.
    pub out: PathBuf,
    /// When.
    pub policy: CheckpointPolicy,
}

impl Observer for Checkpointer {
    fn epoch(&mut self, report: &EpochReport, _: &WeightHealth, run: &Trainer) -> Result<()> {
        if !self.policy.due(report.epoch, run.config().epochs) {
            return Ok(());
        }
        // A resumed run cuts its log back to this length (no log: kept whole).
        let log = std::fs::metadata(self.out.join("log.jsonl"));
        let mut ck = run.checkpoint();
        ck.position.log_bytes = log.ok().map(|m| m.len());
        ck.save(&self.out.join("checkpoint.safetensors"))?;
        save_backbone(run.model(), &self.out.join("backbone.safetensors"))?;
        if let Some(mut w) = run
            .head()
            .as_any()
            .downcast_ref::<Meltr>()
            .map(Meltr::weights)
        {
            w.info.steps = ck.position.head_t;
            w.save(&self.out.join("head.safetensors"))?;
        }
        Ok(())
    }
}
