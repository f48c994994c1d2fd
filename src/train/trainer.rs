//! The fine-tuning loop: every step a backbone update on `f_φ(l)`; every
//! `meta_every` steps a meta step on the head (DESIGN §1). Writes a JSON-lines
//! log, a checkpoint per epoch, and the trained head.

use super::checkpoint::{Checkpoint, RunPosition};
use super::config::{config_diff, TrainConfig};
use super::retrieval::{evaluate, Retrieval};
use super::task_model::TaskModel;
use crate::atomic::write_atomic;
use crate::aux_task::TaskSet;
use crate::backbone::{ParamVec, VideoText};
use crate::error::{Error, Result};
use crate::hypergrad::{BatchRing, MetaLearner, MetaOutcome};
use crate::meta_loss::{warm_start_to_sum, MetaLoss, SumFit};
use crate::tensor::Adam;
use crate::world::{mix64, Batch, Example, Split, World};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the loop reports as it goes (for progress bars).
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

/// One epoch's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    /// Zero-based epoch.
    pub epoch: usize,
    /// Wall-clock seconds of the epoch's training (evaluation excluded).
    pub seconds: f64,
    /// Of which in meta steps.
    pub meta_seconds: f64,
    /// Retrieval on the validation split.
    pub val: Retrieval,
    /// Retrieval on the test split.
    pub test: Retrieval,
    /// Mean of each task's loss over the epoch.
    pub mean_losses: Vec<f32>,
    /// Mean of each task's weight `∂f/∂l_k` over the epoch.
    pub mean_weights: Vec<f32>,
}

/// What a whole run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// Task names.
    pub tasks: Vec<String>,
    /// Per-epoch figures (this invocation's epochs only, after a resume).
    pub epochs: Vec<EpochReport>,
    /// Retrieval on the test split after the last epoch.
    pub final_test: Retrieval,
    /// Backbone steps skipped for non-finite values.
    pub skipped_steps: u64,
    /// Meta steps skipped for non-finite values.
    pub skipped_meta: u64,
    /// Peak resident memory of the process, in MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
}

/// A fine-tuning run in progress.
pub struct Trainer {
    config: TrainConfig,
    config_text: String,
    tasks: TaskSet,
    model: VideoText,
    optimizer: Adam,
    learner: MetaLearner,
    head: Box<dyn MetaLoss>,
    train: Vec<Example>,
    /// Held out of the backbone's updates for the meta step's primary loss.
    meta_pool: Vec<Example>,
    val: Vec<Example>,
    test: Vec<Example>,
    position: RunPosition,
}

impl Trainer {
    /// A fresh run from a pretrained backbone.
    pub fn new(config: TrainConfig, model: VideoText) -> Result<Trainer> {
        let tasks = TaskSet::from_names(&config.tasks)?;
        tasks.check_served(&model)?;
        let config_text = config.to_toml();
        let (mut head, strategy) = config.fresh_head_and_strategy()?;
        if let Some(info) = head.head_info_mut() {
            info.task_names = config.tasks.clone();
            info.primary = Some(config.primary_index());
            info.seed = Some(config.seed);
        }
        let optimizer = Adam::new(config.optimizer, model.params());
        let learner = MetaLearner::new(&*head, Some(strategy), config.meta.clone());
        let world = World::new(config.world_seed);
        let limit = |mut v: Vec<Example>, n: Option<usize>| {
            if let Some(n) = n {
                v.truncate(n);
            }
            v
        };
        let position = RunPosition {
            epochs_done: 0,
            step: 0,
            backbone_t: 0,
            head_t: 0,
            skipped_steps: 0,
            skipped_meta: 0,
            backbone: *model.config(),
        };
        let mut train = limit(world.split(Split::Train), config.train_limit);
        let holdout = config.schedule.holdout;
        if holdout > 0 && (holdout < 2 || holdout + 2 > train.len()) {
            return Err(Error::InvalidSetting {
                field: "schedule.holdout".into(),
                value: holdout.to_string(),
                reason: format!(
                    "hold out at least 2 of the {} training examples and keep at least 2",
                    train.len()
                ),
            });
        }
        let meta_pool = train.split_off(train.len() - holdout);
        Ok(Trainer {
            train,
            meta_pool,
            val: limit(world.split(Split::Val), config.eval_limit),
            test: limit(world.split(Split::Test), config.eval_limit),
            config_text,
            config,
            tasks,
            model,
            optimizer,
            learner,
            head,
            position,
        })
    }

    /// Continues a run from its checkpoint; `config` must equal the one the
    /// run started with (the error lists what differs).
    pub fn resume(config: TrainConfig, checkpoint: &Path) -> Result<Trainer> {
        let ck = Checkpoint::load(checkpoint)?;
        let diff = config_diff(&ck.config, &config.to_toml());
        if !diff.is_empty() {
            return Err(Error::InvalidSetting {
                field: "resume".into(),
                value: checkpoint.display().to_string(),
                reason: format!(
                    "the checkpoint was made with another run file: {}",
                    diff.join("; ")
                ),
            });
        }
        let dev = crate::tensor::device();
        let model = VideoText::from_parts(
            dev.clone(),
            ck.position.backbone,
            ParamVec::from_vec(&dev, ck.backbone[0].clone()),
        )?;
        let mut t = Trainer::new(config, model)?;
        t.optimizer.m = ParamVec::from_vec(&dev, ck.backbone[1].clone());
        t.optimizer.v = ParamVec::from_vec(&dev, ck.backbone[2].clone());
        t.optimizer.t = ck.position.backbone_t;
        t.head
            .set_params(&ParamVec::from_vec(&dev, ck.head[0].clone()))?;
        if ck.head[1].len() != t.learner.adam.m.len() {
            return Err(Error::BadWeightsFile {
                path: checkpoint.into(),
                reason: "head optimiser state does not match the head".into(),
            });
        }
        t.learner.adam.m = ParamVec::from_vec(&dev, ck.head[1].clone());
        t.learner.adam.v = ParamVec::from_vec(&dev, ck.head[2].clone());
        t.learner.adam.t = ck.position.head_t;
        t.learner.skipped = ck.position.skipped_meta;
        t.position = ck.position;
        Ok(t)
    }

    /// The backbone.
    pub fn model(&self) -> &VideoText {
        &self.model
    }

    /// The combinator being trained.
    pub fn head(&self) -> &dyn MetaLoss {
        &*self.head
    }

    /// Runs the remaining epochs, writing into `out`: `log.jsonl`
    /// (appended), `checkpoint.safetensors`, `backbone.safetensors`,
    /// `head.safetensors` (MELTR heads) and `summary.json`.
    pub fn run(&mut self, out: &Path, mut on_event: impl FnMut(&Event)) -> Result<RunSummary> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let log_path = out.join("log.jsonl");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        let mut write_log = |v: serde_json::Value| -> Result<()> {
            writeln!(log, "{v}").map_err(|e| Error::io(&log_path, e))
        };
        if self.position.step == 0 {
            write_log(
                json!({"kind": "run", "tasks": self.config.tasks, "primary": self.config.primary}),
            )?;
        }
        if self.position.step == 0 && self.config.meta.warm_start > 0 && self.head.num_params() > 0
        {
            let fit = self.warm_start()?;
            write_log(json!({"kind": "warm_start", "before": fit.0, "after": fit.1}))?;
        }
        let mut epochs = vec![];
        let primary = self.config.primary_index();
        for epoch in self.position.epochs_done..self.config.epochs {
            let order = shuffled(
                self.train.len(),
                mix64(self.config.seed ^ mix64(epoch as u64 + 1)),
            );
            let batches: Vec<&[usize]> = order
                .chunks(self.config.batch_size)
                .filter(|c| c.len() >= 2)
                .collect();
            let mut ring = BatchRing::new(self.config.schedule.ring);
            let k = self.tasks.len();
            let (mut sum_l, mut sum_a, mut counted) = (vec![0.0f64; k], vec![0.0f64; k], 0usize);
            let started = Instant::now();
            let mut meta_seconds = 0.0;
            for (i, idx) in batches.iter().enumerate() {
                self.position.step += 1;
                let step = self.position.step;
                let seed = mix64(self.config.seed.wrapping_add(step));
                let batch = Batch::from_examples(idx.iter().map(|&j| &self.train[j]));
                match self.backbone_step(&batch, seed)? {
                    Some((losses, weights, value)) => {
                        for kk in 0..k {
                            sum_l[kk] += losses[kk] as f64;
                            sum_a[kk] += weights[kk] as f64;
                        }
                        counted += 1;
                        write_log(json!({"kind": "step", "epoch": epoch, "step": step,
                            "losses": losses, "weights": weights, "value": value}))?;
                        on_event(&Event::Step {
                            epoch,
                            index: i + 1,
                            of: batches.len(),
                            losses,
                        });
                    }
                    None => {
                        self.position.skipped_steps += 1;
                        write_log(json!({"kind": "skip", "epoch": epoch, "step": step}))?;
                    }
                }
                self.model.release_buffers();
                ring.push(batch, seed);
                if self.config.schedule.is_meta_step(step) {
                    let t0 = Instant::now();
                    let (a, b) = ring
                        .draw_pair(mix64(seed ^ 0x6d65_7461))
                        .expect("ring holds a batch");
                    let held;
                    let a = if self.meta_pool.is_empty() {
                        a
                    } else {
                        held = self.held_out_batch(mix64(seed ^ 0x686f_6c64));
                        &held
                    };
                    let mut tm = TaskModel {
                        model: &mut self.model,
                        tasks: &self.tasks,
                        primary,
                    };
                    let outcome =
                        self.learner
                            .step(&mut tm, &mut *self.head, (&a.0, a.1), (&b.0, b.1))?;
                    meta_seconds += t0.elapsed().as_secs_f64();
                    self.model.release_buffers();
                    if let MetaOutcome::Updated {
                        primary,
                        alignment,
                        grad_norm,
                        ..
                    } = &outcome
                    {
                        write_log(json!({"kind": "meta", "step": step, "primary": primary,
                            "alignment": alignment, "grad_norm": grad_norm}))?;
                    }
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            self.position.epochs_done = epoch + 1;
            self.position.backbone_t = self.optimizer.t;
            self.position.head_t = self.learner.adam.t;
            self.position.skipped_meta = self.learner.skipped;
            let mean = |s: &[f64]| {
                s.iter()
                    .map(|v| (v / counted.max(1) as f64) as f32)
                    .collect()
            };
            let report = EpochReport {
                epoch,
                seconds,
                meta_seconds,
                val: evaluate(&self.model, &self.val),
                test: evaluate(&self.model, &self.test),
                mean_losses: mean(&sum_l),
                mean_weights: mean(&sum_a),
            };
            write_log(json!({"kind": "epoch", "report": report}))?;
            self.save(out)?;
            on_event(&Event::Epoch(report.clone()));
            epochs.push(report);
        }
        let summary = RunSummary {
            tasks: self.config.tasks.clone(),
            final_test: evaluate(&self.model, &self.test),
            epochs,
            skipped_steps: self.position.skipped_steps,
            skipped_meta: self.learner.skipped,
            peak_rss_mib: peak_rss_mib(),
        };
        let text = serde_json::to_string_pretty(&summary).expect("summary serialises");
        write_atomic(&out.join("summary.json"), text.as_bytes())?;
        Ok(summary)
    }

    /// One backbone step on `f_φ(l)`; `None` (and nothing changed) when a
    /// loss, a weight or the gradient is not finite.
    fn backbone_step(
        &mut self,
        batch: &Batch,
        seed: u64,
    ) -> Result<Option<(Vec<f32>, Vec<f32>, f32)>> {
        let taped = self
            .tasks
            .forward_taped(&self.model, self.model.params(), batch, seed)?;
        let losses = taped.values().to_vec();
        let e = match self.head.eval(&losses) {
            Ok(e) if e.value.is_finite() && e.weights.iter().all(|w| w.is_finite()) => e,
            Ok(_) | Err(Error::NonFinite { .. }) => {
                tracing::warn!(?losses, "step skipped: non-finite loss or weight");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let grad = taped.backward(&e.weights)?;
        if !grad.is_finite() {
            tracing::warn!("step skipped: non-finite gradient");
            return Ok(None);
        }
        let mut w = self.model.params().clone();
        self.optimizer.step(&mut w, &grad)?;
        self.model.set_params(w)?;
        Ok(Some((losses, e.weights, e.value)))
    }

    /// Fits the head to the plain sum around the K losses of the first
    /// training batch (a fresh run's first act).
    fn warm_start(&mut self) -> Result<(SumFit, SumFit)> {
        let n = self.config.batch_size.min(self.train.len());
        let batch = Batch::from_examples(&self.train[..n]);
        let seed = mix64(self.config.seed ^ 0x7761_726d);
        let losses = self
            .tasks
            .losses_at(&self.model, self.model.params(), &batch, seed)?;
        let m = &self.config.meta;
        let fit = warm_start_to_sum(&mut *self.head, &losses, m.warm_start, m.lr, seed)?;
        tracing::info!(before = ?fit.0, after = ?fit.1, "head warm-started at the plain sum");
        Ok(fit)
    }

    /// A batch of held-out examples for the meta step's primary loss, with
    /// its seed (a pure function of `seed`).
    fn held_out_batch(&self, seed: u64) -> (Batch, u64) {
        let order = shuffled(self.meta_pool.len(), seed);
        let n = self.config.batch_size.min(order.len());
        let batch = Batch::from_examples(order[..n].iter().map(|&j| &self.meta_pool[j]));
        (batch, seed)
    }

    /// Writes the checkpoint, the backbone and (for MELTR) the head.
    fn save(&mut self, out: &Path) -> Result<()> {
        let ck = Checkpoint {
            config: self.config_text.clone(),
            position: self.position.clone(),
            backbone: [
                self.model.params().to_vec(),
                self.optimizer.m.to_vec(),
                self.optimizer.v.to_vec(),
            ],
            head: [
                self.head.params().to_vec(),
                self.learner.adam.m.to_vec(),
                self.learner.adam.v.to_vec(),
            ],
        };
        ck.save(&out.join("checkpoint.safetensors"))?;
        self.model.save(&out.join("backbone.safetensors"))?;
        let steps = self.learner.adam.t;
        if let Some(info) = self.head.head_info_mut() {
            info.steps = steps;
        }
        if let Some(w) = self.head.head_weights() {
            w.save(&out.join("head.safetensors"))?;
        }
        Ok(())
    }
}

/// A permutation of `0..n`, a pure function of `seed` (Fisher–Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.gen_range(0..=i));
    }
    v
}

/// Peak resident set size of this process (`VmHWM`), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Where `meltr train` puts a run by default.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from("runs/latest")
}

/// The backbone a run starts from: the checkpoint the run file names, or a
/// fresh one pretrained with its `pretrain_preset` (the five pretext tasks).
pub fn starting_backbone(config: &TrainConfig) -> Result<VideoText> {
    match &config.backbone {
        Some(path) => VideoText::load(path),
        None => {
            let pc = crate::pretrain::PretrainConfig {
                world_seed: config.world_seed,
                ..crate::pretrain::PretrainConfig::preset(&config.pretrain_preset)?
            };
            let tasks = TaskSet::from_names(&crate::pretrain::DEFAULT_TASKS)?;
            tracing::info!(preset = %config.pretrain_preset, "no backbone given: pretraining one");
            Ok(crate::pretrain::pretrain(&pc, &tasks, |_| {})?.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aux_task::{AuxTask, Capability, TaskRegistration};
    use crate::backbone::{Free, Loss, Net, Taped};
    use dfdx::prelude::*;

    /// The plugins live outside the core crate: a one-line task stands in.
    #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
    struct Probe {}

    #[typetag::serde(name = "trainer_probe")]
    impl AuxTask for Probe {
        fn name(&self) -> &str {
            "trainer_probe"
        }
        fn needs(&self) -> Vec<Capability> {
            vec![Capability::VideoEncoder]
        }
        fn loss_taped(&self, net: &Net<Taped>, b: &Batch, _: u64) -> Result<Loss<Taped>> {
            Ok(net.encode_video(&b.frames).square().mean::<Rank0, _>())
        }
        fn loss_free(&self, net: &Net<Free>, b: &Batch, _: u64) -> Result<Loss<Free>> {
            Ok(net.encode_video(&b.frames).square().mean::<Rank0, _>())
        }
    }

    inventory::submit!(TaskRegistration::of::<Probe>("trainer_probe", "test task"));

    fn tiny(extra: &str) -> Result<Trainer> {
        let run = "preset = \"tiny\"\ntasks = [\"trainer_probe\"]\nprimary = \"trainer_probe\"\n\
                   [meta_loss]\ntype = \"sum\"\n";
        let config = TrainConfig::from_toml(&format!("{run}{extra}"), Path::new("run.toml"))?;
        Trainer::new(config, VideoText::new(Default::default(), 0))
    }

    #[test]
    fn holdout_keeps_the_last_examples_out_of_the_backbone_steps() {
        let all = tiny("").unwrap();
        let t = tiny("[schedule]\nholdout = 8").unwrap();
        assert_eq!(all.train.len(), 48);
        assert!(all.meta_pool.is_empty());
        assert_eq!(t.train.len(), 40);
        assert_eq!(t.meta_pool.len(), 8);
        let caption = |e: &Example| e.caption.clone();
        let held: Vec<_> = all.train[40..].iter().map(caption).collect();
        assert_eq!(t.meta_pool.iter().map(caption).collect::<Vec<_>>(), held);
        // A held-out batch is a pure function of its seed, drawn from the pool.
        let (a, sa) = t.held_out_batch(7);
        let (b, _) = t.held_out_batch(7);
        assert_eq!((a.size(), sa), (8, 7));
        assert_eq!(a.tokens, b.tokens);
        for i in 0..a.size() {
            let tokens = a.caption_tokens(i);
            assert!(t.meta_pool.iter().any(|e| e.tokens == tokens));
        }
    }

    #[test]
    fn a_holdout_that_leaves_too_few_examples_is_refused_by_name() {
        for bad in [1, 47, 100] {
            let err = tiny(&format!("[schedule]\nholdout = {bad}"))
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("schedule.holdout") && err.contains(&bad.to_string()),
                "{err}"
            );
        }
    }
}
