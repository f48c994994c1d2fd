//! Where a training step's time goes: the phases of a backbone step, the
//! meta step of the configured strategy, and the epoch-time ratio they imply
//! against a plain sum (`meltr bench step`).
//!
//! Every phase runs on the same two batches, after one warm-up round; the
//! backbone step is the trainer's own phases ([`meltr::train::step`], timed one by
//! one by [`timed_step`]), so the backbone and the head move a little between
//! repetitions, as in training. Each timing ends with a value read back to
//! the host, so on a GPU the queued kernels are included.

use meltr::aux_task::TaskSet;
use meltr::backbone::Backbone;
use meltr::dataset::Split;
use meltr::error::{Error, Result};
use meltr::hypergrad::{MetaLearner, MetaOutcome, PassCount};
use meltr::meta_loss::{MetaLoss, Sum};
use meltr::tensor::Adam;
use meltr::train::{step, TaskModel, TrainConfig};
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
    /// The head term `∂/∂φ D_l f_φ(l)[c]` alone (docs/design.md §2).
    pub head_term_ms: f64,
    /// One meta step of the configured strategy.
    pub meta_step_ms: f64,
    /// What the meta step cannot avoid, each pass timed alone: the primary
    /// loss's gradient, one K-task backward (forward + backward) per other
    /// backward pass, the tape-free forwards, and the head term
    /// ([`StepProfile::floor`]).
    pub floor_ms: f64,
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

    /// Epoch time relative to the plain sum with a meta step every
    /// `meta_every` steps: one step plus a share of a meta step, over a
    /// plain step.
    pub fn epoch_ratio_at(&self, meta_every: usize) -> f64 {
        (self.step_ms() + self.meta_step_ms / meta_every.max(1) as f64) / self.sum_step_ms()
    }

    /// The floor of a meta step that made `passes`: the primary gradient
    /// once, a K-task backward for every other backward pass, each tape-free
    /// forward, and the head term.
    pub fn floor(&self, passes: PassCount) -> f64 {
        let k_task_grad = self.forward_taped_ms + self.backward_ms;
        self.primary_grad_ms
            + passes.backwards.saturating_sub(1) as f64 * k_task_grad
            + passes.forwards as f64 * self.forward_free_ms
            + self.head_term_ms
    }

    /// The meta step's time as a multiple of its floor.
    pub fn meta_over_floor(&self) -> f64 {
        self.meta_step_ms / self.floor_ms
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
            ("head term", self.head_term_ms),
            ("meta step", self.meta_step_ms),
            ("meta step floor", self.floor_ms),
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
        s += &format!("  meta step / its floor: {:.3}x\n", self.meta_over_floor());
        let mut everies = vec![self.meta_every];
        everies.extend([3, 10].into_iter().filter(|e| *e != self.meta_every));
        for every in everies {
            s += &format!(
                "  epoch time vs plain sum at meta_every = {every}: {:.3}x\n",
                self.epoch_ratio_at(every)
            );
        }
        s
    }
}

/// Which work [`profile_step`] does: all of it, or one phase alone (so
/// that a process's peak memory is that phase's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phases {
    /// Every phase, the floor's passes included.
    All,
    /// Backbone steps on the plain sum only.
    Plain,
    /// Backbone steps with the run's combinator only.
    Combined,
    /// Meta steps only.
    Meta,
}

/// Times the phases of `config`'s training step on `model` (`reps`
/// repetitions after one warm-up); phases not run read 0.
pub fn profile_step(
    config: &TrainConfig,
    mut model: Box<dyn Backbone>,
    reps: usize,
    phases: Phases,
) -> Result<StepProfile> {
    if reps == 0 {
        return Err(Error::InvalidSetting {
            field: "reps".into(),
            value: "0".into(),
            reason: "at least one repetition".into(),
        });
    }
    let tasks = TaskSet::from_specs(&config.tasks)?;
    tasks.check_served(&*model)?;
    let (mut head, strategy) = config.build()?;
    let mut learner = MetaLearner::new(&*head, Some(strategy), config.meta.clone());
    let data = config.dataset()?;
    let len = data.len(Split::Train);
    let batch_of = |i: usize| {
        let n = config.batch_size;
        let idx: Vec<usize> = (i * n..(i + 1) * n).map(|j| j % len).collect();
        data.batch(Split::Train, &idx)
    };
    let (a, b) = (batch_of(0), batch_of(1));
    let primary = config.primary_index();
    let mut optimizer = Adam::new(config.optimizer.adam(), model.params());
    let sum = Sum {};
    let all = phases == Phases::All;
    let steps = phases != Phases::Meta;
    let metas = matches!(phases, Phases::All | Phases::Meta);

    let mut step = StepTimes::default();
    // Tape-free forward, primary gradient, head term, meta step.
    let mut t = [0.0f64; 4];
    let mut passes = PassCount::default();
    for rep in 0..=reps {
        let keep = rep > 0;
        let mut lap = |slot: usize, start: Instant| {
            if keep {
                t[slot] += start.elapsed().as_secs_f64() * 1e3;
            }
        };
        let seed = rep as u64;
        if steps {
            let combinator: &dyn MetaLoss = match phases {
                Phases::Plain => &sum,
                _ => &*head,
            };
            let times = timed_step(&tasks, &mut *model, &mut optimizer, combinator, &b, seed)?;
            if keep {
                step.forward_ms += times.forward_ms;
                step.combine_ms += times.combine_ms;
                step.backward_ms += times.backward_ms;
                step.update_ms += times.update_ms;
            }
            model.release_buffers();
        }
        if all {
            let s = Instant::now();
            let losses = tasks.losses_at(&*model, model.params(), &b, seed)?;
            lap(0, s);
            let s = Instant::now();
            tasks
                .task_grad(&*model, model.params(), &a, seed, primary)?
                .1
                .norm();
            lap(1, s);
            model.release_buffers();
            let direction: Vec<f32> = (0..losses.len()).map(|i| 1.0 - 0.1 * i as f32).collect();
            let s = Instant::now();
            head.mixed_grad(&losses, &direction)?.norm();
            lap(2, s);
        }
        if metas {
            let s = Instant::now();
            let mut tm = TaskModel {
                model: &mut *model,
                tasks: &tasks,
                primary,
            };
            let outcome = learner.step(&mut tm, &mut *head, (&a, seed), (&b, seed + 1))?;
            lap(3, s);
            model.release_all_buffers();
            match outcome {
                MetaOutcome::Updated { passes: p, .. } => passes = p,
                MetaOutcome::NoMetaStep => {}
                MetaOutcome::SkippedNonFinite { reason } => {
                    return Err(Error::Backend(format!("meta step skipped: {reason}")))
                }
            }
        }
    }
    let mean = |x: f64| x / reps as f64;
    let mut profile = StepProfile {
        device: device_name().into(),
        batch_size: config.batch_size,
        tasks: config.task_names(),
        reps,
        forward_taped_ms: mean(step.forward_ms),
        forward_free_ms: mean(t[0]),
        combine_ms: mean(step.combine_ms),
        backward_ms: mean(step.backward_ms),
        update_ms: mean(step.update_ms),
        primary_grad_ms: mean(t[1]),
        head_term_ms: mean(t[2]),
        meta_step_ms: mean(t[3]),
        floor_ms: 0.0,
        meta_passes: passes,
        meta_every: config.schedule.meta_every,
    };
    if all {
        profile.floor_ms = profile.floor(passes);
    }
    Ok(profile)
}

/// The device the tensors live on in this build.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else {
        "cpu"
    }
}

/// Wall-clock milliseconds of each phase of a backbone step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// The K task losses on a tape.
    pub forward_ms: f64,
    /// The combinator's value and weights.
    pub combine_ms: f64,
    /// Backward of `Σ_k a_k l_k` through the backbone.
    pub backward_ms: f64,
    /// The optimiser's update.
    pub update_ms: f64,
}

/// The trainer's backbone step ([`super::backbone_step`]), one process,
/// with each phase timed. Each phase ends with a value read back to the
/// host (the losses, the weights, the gradient's finiteness, the new
/// weights' norm), so queued GPU kernels are included. A skipped step's
/// remaining phases count zero.
pub fn timed_step(
    tasks: &TaskSet,
    model: &mut dyn Backbone,
    optimizer: &mut Adam,
    combinator: &dyn MetaLoss,
    batch: &meltr::backbone::Batch,
    seed: u64,
) -> Result<StepTimes> {
    let comm = meltr::distributed::SingleProcess;
    let ms = |s: Instant| s.elapsed().as_secs_f64() * 1e3;
    let mut times = StepTimes::default();
    let s = Instant::now();
    let (taped, losses) = step::forward(tasks, &*model, batch, seed, &comm)?;
    times.forward_ms = ms(s);
    let s = Instant::now();
    let Some(e) = step::combine(combinator, &losses)? else {
        return Ok(times);
    };
    times.combine_ms = ms(s);
    let s = Instant::now();
    let grad = step::backward(taped, &e.weights, batch, &comm)?;
    times.backward_ms = ms(s);
    let Some(grad) = grad else {
        return Ok(times);
    };
    let s = Instant::now();
    step::update(model, optimizer, &grad)?;
    model.params().norm();
    times.update_ms = ms(s);
    Ok(times)
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
            head_term_ms: 0.5,
            meta_step_ms: 30.0,
            floor_ms: 0.0,
            meta_passes: PassCount::default(),
            meta_every: 3,
        };
        assert_eq!(p.sum_step_ms(), 10.0);
        assert_eq!(p.step_ms(), 11.0);
        // (11 + 30 / 3) / 10
        assert!((p.epoch_ratio_at(p.meta_every) - 2.1).abs() < 1e-12);
        // (11 + 30 / 10) / 10
        assert!((p.epoch_ratio_at(10) - 1.4).abs() < 1e-12);
        // primary 2 + one K-task backward (4 + 5) + two forwards (2 × 3) + head term 0.5
        let passes = PassCount {
            backwards: 2,
            forwards: 2,
        };
        assert!((p.floor(passes) - 17.5).abs() < 1e-12);
    }
}
