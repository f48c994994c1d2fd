//! Where a training step's time goes: the phases of a backbone step, the
//! meta step of the configured strategy, and the epoch-time ratio they imply
//! against a plain sum (`meltr bench step`).
//!
//! Every phase runs on the same two batches, after one warm-up round; the
//! backbone step is the trainer's own ([`super::backbone_step`], timed
//! phase by phase), so the backbone and the head move a little between
//! repetitions, as in training. Each timing ends with a value read back to
//! the host, so on a GPU the queued kernels are included.

use super::task_model::TaskModel;
use super::{backbone_step, StepTimes, TrainConfig};
use crate::aux_task::TaskSet;
use crate::backbone::Backbone;
use crate::dataset::{dataset_by_name, Split};
use crate::error::{Error, Result};
use crate::hypergrad::{MetaLearner, MetaOutcome, PassCount};
use crate::tensor::Adam;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Mean wall-clock milliseconds of each phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepProfile {
    /// The device the phases ran on (`cpu` or `cuda`).
    pub device: String,
    /// Batch size.
    pub batch_size: usize,
    /// Tasks, in loss order.
    pub tasks: Vec<String>,
    /// Repetitions averaged.
    pub reps: usize,
    /// K task losses on a tape (the step's forward).
    pub forward_taped_ms: f64,
    /// K task losses without a tape (a central-difference evaluation).
    pub forward_free_ms: f64,
    /// The combinator's value and weights (the run's combinator).
    pub combine_ms: f64,
    /// Backward of `Σ_k a_k l_k` through the backbone.
    pub backward_ms: f64,
    /// The backbone's optimiser update.
    pub update_ms: f64,
    /// The primary task's loss and gradient alone.
    pub primary_grad_ms: f64,
    /// One meta step of the configured strategy.
    pub meta_step_ms: f64,
    /// Backbone passes one meta step made.
    pub meta_passes: PassCount,
    /// Meta steps every this many backbone steps.
    pub meta_every: usize,
}

impl StepProfile {
    /// A backbone step with the plain sum: forward, backward, update.
    pub fn sum_step_ms(&self) -> f64 {
        self.forward_taped_ms + self.backward_ms + self.update_ms
    }

    /// A backbone step with the run's combinator.
    pub fn step_ms(&self) -> f64 {
        self.sum_step_ms() + self.combine_ms
    }

    /// Epoch time relative to the plain sum: one step plus a share of a
    /// meta step, over a plain step.
    pub fn epoch_ratio(&self) -> f64 {
        (self.step_ms() + self.meta_step_ms / self.meta_every.max(1) as f64) / self.sum_step_ms()
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let rows = [
            ("forward, taped (K tasks)", self.forward_taped_ms),
            ("forward, no tape (K tasks)", self.forward_free_ms),
            ("combinator value + weights", self.combine_ms),
            ("backward of Σ a_k l_k", self.backward_ms),
            ("optimiser update", self.update_ms),
            ("primary loss + gradient", self.primary_grad_ms),
            ("meta step", self.meta_step_ms),
            ("step, plain sum", self.sum_step_ms()),
            ("step, this combinator", self.step_ms()),
        ];
        let mut s = format!(
            "device {}, batch {}, tasks {}, mean of {} repetitions\n",
            self.device,
            self.batch_size,
            self.tasks.join(","),
            self.reps
        );
        for (name, ms) in rows {
            s += &format!("  {name:<30} {ms:>9.2} ms\n");
        }
        s += &format!(
            "  meta step passes: {} backward, {} forward\n",
            self.meta_passes.backwards, self.meta_passes.forwards
        );
        s += &format!(
            "  epoch time vs plain sum at meta_every = {}: {:.3}x\n",
            self.meta_every,
            self.epoch_ratio()
        );
        s
    }
}

/// Times the phases of `config`'s training step on `model` (`reps`
/// repetitions after one warm-up).
pub fn profile_step(
    config: &TrainConfig,
    mut model: Box<dyn Backbone>,
    reps: usize,
) -> Result<StepProfile> {
    if reps == 0 {
        return Err(Error::InvalidSetting {
            field: "reps".into(),
            value: "0".into(),
            reason: "at least one repetition".into(),
        });
    }
    let tasks = TaskSet::from_names(&config.tasks)?;
    tasks.check_served(&*model)?;
    let (mut head, strategy) = config.fresh_head_and_strategy()?;
    let mut learner = MetaLearner::new(&*head, Some(strategy), config.meta.clone());
    let data = dataset_by_name(&config.data, config.data_seed)?;
    let len = data.len(Split::Train);
    let batch_of = |i: usize| {
        let n = config.batch_size;
        let idx: Vec<usize> = (i * n..(i + 1) * n).map(|j| j % len).collect();
        data.batch(Split::Train, &idx)
    };
    let (a, b) = (batch_of(0), batch_of(1));
    let primary = config.primary_index();
    let mut optimizer = Adam::new(config.optimizer, model.params());

    let mut step = StepTimes::default();
    let mut t = [0.0f64; 3];
    let mut passes = PassCount::default();
    for rep in 0..=reps {
        let keep = rep > 0;
        let mut lap = |slot: usize, start: Instant| {
            if keep {
                t[slot] += start.elapsed().as_secs_f64() * 1e3;
            }
        };
        let seed = rep as u64;
        let mut times = StepTimes::default();
        backbone_step(
            &tasks,
            &mut *model,
            &mut optimizer,
            &*head,
            &b,
            seed,
            &crate::distributed::SingleProcess,
            Some(&mut times),
        )?;
        if keep {
            step.forward_ms += times.forward_ms;
            step.combine_ms += times.combine_ms;
            step.backward_ms += times.backward_ms;
            step.update_ms += times.update_ms;
        }
        model.release_buffers();

        let s = Instant::now();
        tasks.losses_at(&*model, model.params(), &b, seed)?;
        lap(0, s);
        let s = Instant::now();
        tasks
            .task_grad(&*model, model.params(), &a, seed, primary)?
            .1
            .norm();
        lap(1, s);
        model.release_buffers();

        let s = Instant::now();
        let mut tm = TaskModel {
            model: &mut *model,
            tasks: &tasks,
            primary,
        };
        let outcome = learner.step(&mut tm, &mut *head, (&a, seed), (&b, seed + 1))?;
        lap(2, s);
        model.release_buffers();
        match outcome {
            MetaOutcome::Updated { passes: p, .. } => passes = p,
            MetaOutcome::NoMetaStep => {}
            MetaOutcome::SkippedNonFinite { reason } => {
                return Err(Error::Backend(format!("meta step skipped: {reason}")))
            }
        }
    }
    let mean = |x: f64| x / reps as f64;
    Ok(StepProfile {
        device: device_name().into(),
        batch_size: config.batch_size,
        tasks: config.tasks.clone(),
        reps,
        forward_taped_ms: mean(step.forward_ms),
        forward_free_ms: mean(t[0]),
        combine_ms: mean(step.combine_ms),
        backward_ms: mean(step.backward_ms),
        update_ms: mean(step.update_ms),
        primary_grad_ms: mean(t[1]),
        meta_step_ms: mean(t[2]),
        meta_passes: passes,
        meta_every: config.schedule.meta_every,
    })
}

/// The device the tensors live on in this build.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else {
        "cpu"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_ratio_adds_a_share_of_the_meta_step_to_the_step() {
        let p = StepProfile {
            device: "cpu".into(),
            batch_size: 4,
            tasks: vec!["a".into(), "b".into()],
            reps: 1,
            forward_taped_ms: 4.0,
            forward_free_ms: 3.0,
            combine_ms: 1.0,
            backward_ms: 5.0,
            update_ms: 1.0,
            primary_grad_ms: 2.0,
            meta_step_ms: 30.0,
            meta_passes: PassCount::default(),
            meta_every: 3,
        };
        assert_eq!(p.sum_step_ms(), 10.0);
        assert_eq!(p.step_ms(), 11.0);
        // (11 + 30 / 3) / 10
        assert!((p.epoch_ratio() - 2.1).abs() < 1e-12);
    }
}
