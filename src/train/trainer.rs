//! The fine-tuning loop: every step a backbone update on `f_φ(l)`; every
//! `meta_every` steps a meta step on the head (docs/design.md §1). The loop
//! only trains; what it does is told to [`Observer`]s: the log
//! (`run_log.rs`), checkpoints (`checkpointer.rs`), the rank-agreement
//! check (`rank_check.rs`) and progress displays.

use super::checkpoint::{Checkpoint, RunPosition};
use super::checkpointer::{CheckpointPolicy, Checkpointer};
use super::config::{config_diff, TrainConfig};
use super::evaluate::{evaluate, Metrics};
use super::observer::{Event, Observers, Progress, StepAt};
use super::rank_check::RankCheck;
use super::run_log::RunLog;
use super::seeds::{Seeds, StepSeeds};
use super::sharded::Sharded;
use super::skip_policy::SkipPolicy;
use super::stepper::Stepper;
use super::tally::{EpochTally, WeightHealth};
use super::task_model::TaskModel;
use crate::aux_task::TaskSet;
use crate::backbone::{backbone_from_kind, load_backbone, Backbone, Batch};
use crate::dataset::{Dataset, Split};
use crate::distributed::{Communicator, SingleProcess};
use crate::error::{Error, Result};
use crate::head::Meltr;
use crate::hypergrad::{BatchRing, MetaLearner, MetaOutcome};
use crate::meta_loss::{warm_start_to_sum, MetaLoss, Observation, SumFit};
use crate::tensor::Adam;
use crate::tensor::ParamVec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// One epoch's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    /// Zero-based epoch.
    pub epoch: usize,
    /// Wall-clock seconds of the epoch's training (evaluation excluded).
    pub seconds: f64,
    /// Of which in meta steps.
    pub meta_seconds: f64,
    /// The data set's metric on the validation split (epochs that were
    /// evaluated: every `eval_every`-th and the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<Metrics>,
    /// The data set's metric on the test split (as `val`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Metrics>,
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
    /// The data set's metric on the test split after the last epoch.
    pub final_test: Metrics,
    /// Backbone steps skipped for non-finite values.
    pub skipped_steps: u64,
    /// Meta steps skipped for non-finite values.
    pub skipped_meta: u64,
    /// Steps whose weights vanished or turned negative (this invocation's
    /// epochs).
    #[serde(default)]
    pub weight_health: WeightHealth,
    /// Peak resident memory of the process, in MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
}

/// A fine-tuning run in progress.
pub struct Trainer {
    config: TrainConfig,
    config_text: String,
    seeds: Seeds,
    tasks: TaskSet,
    model: Box<dyn Backbone>,
    data: Arc<dyn Dataset>,
    optimizer: Adam,
    learner: MetaLearner,
    head: Box<dyn MetaLoss>,
    /// Indices of the training examples the backbone steps on.
    train: Vec<usize>,
    /// Held out of the backbone's updates for the meta step's primary loss.
    meta_pool: Vec<usize>,
    position: RunPosition,
    /// The ranks of a data-parallel run (one process by default).
    comm: Arc<dyn Communicator>,
    checkpoints: CheckpointPolicy,
}

/// An epoch's training as the loop leaves it to its report.
struct EpochDone {
    tally: EpochTally,
    seconds: f64,
    meta_seconds: f64,
}

impl Trainer {
    /// A fresh run from a (pretrained) backbone, on the run file's data set.
    pub fn new(config: TrainConfig, model: Box<dyn Backbone>) -> Result<Trainer> {
        let data = config.dataset()?;
        Trainer::with_data(config, model, data)
    }

    /// A fresh run on a data set of your own (the run file's `data` is
    /// only recorded).
    pub fn with_data(
        config: TrainConfig,
        model: Box<dyn Backbone>,
        data: Arc<dyn Dataset>,
    ) -> Result<Trainer> {
        let tasks = TaskSet::from_specs(&config.tasks)?;
        tasks.check_served(&*model)?;
        let (mut head, strategy) = config.build()?;
        let config_text = config.canonical_toml(&*head, &*strategy)?;
        if let Some(info) = head
            .as_mut()
            .as_any_mut()
            .downcast_mut::<Meltr>()
            .map(Meltr::info_mut)
        {
            info.task_names = config.task_names();
            info.primary = Some(config.primary_index());
            info.seed = Some(config.seed);
        }
        let mut optimizer = Adam::new(config.optimizer.adam(), model.params());
        let blocks = model.layout().blocks().iter();
        optimizer.clip = config
            .optimizer
            .grad_clip(blocks.map(|b| b.offset..b.offset + b.block.len()).collect());
        let learner = MetaLearner::new(&*head, Some(strategy), config.meta.clone());
        let position = RunPosition {
            epochs_done: 0,
            step: 0,
            backbone_t: 0,
            head_t: 0,
            skipped_steps: 0,
            skipped_meta: 0,
            backbone_kind: model.kind().to_string(),
            backbone_config: model.config(),
            log_bytes: None,
        };
        let n = data
            .len(Split::Train)
            .min(config.train_limit.unwrap_or(usize::MAX));
        let mut train: Vec<usize> = (0..n).collect();
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
            config_text,
            seeds: Seeds(config.seed),
            config,
            tasks,
            model,
            data,
            optimizer,
            learner,
            head,
            position,
            comm: Arc::new(SingleProcess),
            checkpoints: CheckpointPolicy::default(),
        })
    }

    /// Makes this run one rank of a data-parallel run over `comm`
    /// (docs/design.md §7): it takes its shard of every batch, losses and
    /// gradients are averaged over the ranks, and rank 0 alone writes the
    /// run's files. Every rank must be built from the same run file and
    /// backbone.
    pub fn set_communicator(&mut self, comm: Box<dyn Communicator>) {
        self.comm = comm.into();
    }

    /// Which epochs [`Trainer::run`] checkpoints after (default: every one).
    pub fn set_checkpoint_policy(&mut self, policy: CheckpointPolicy) {
        self.checkpoints = policy;
    }

    /// Continues a run from its checkpoint; `config` must equal the one the
    /// run started with (the error lists what differs). The backbone is
    /// rebuilt from the kind the checkpoint records (a registered kind).
    pub fn resume(config: TrainConfig, checkpoint: &Path) -> Result<Trainer> {
        let ck = Checkpoint::load(checkpoint)?;
        let pos = &ck.position;
        let model = backbone_from_kind(&pos.backbone_kind, &pos.backbone_config, 0)?;
        let mut t = Trainer::new(config, model)?;
        t.restore(&ck, checkpoint)?;
        Ok(t)
    }

    /// Loads a checkpoint's state into this freshly built run (for a
    /// backbone or data set of your own; [`Trainer::resume`] otherwise).
    pub fn restore(&mut self, ck: &Checkpoint, path: &Path) -> Result<()> {
        let diff = config_diff(&ck.config, &self.config_text);
        if !diff.is_empty() {
            return Err(Error::InvalidSetting {
                field: "resume".into(),
                value: path.display().to_string(),
                reason: format!(
                    "the checkpoint was made with another run file: {}",
                    diff.join("; ")
                ),
            });
        }
        let bad = |reason: &str| Error::BadWeightsFile {
            path: path.into(),
            reason: reason.into(),
        };
        if ck.position.backbone_kind != self.model.kind() {
            return Err(bad("the checkpoint holds another kind of backbone"));
        }
        let dev = crate::tensor::device();
        let vec = |v: &Vec<f32>| ParamVec::from_vec(&dev, v.clone());
        self.model.set_params(vec(&ck.backbone[0]))?;
        if ck.backbone[1].len() != self.optimizer.m.len() {
            return Err(bad("backbone optimiser state does not match the backbone"));
        }
        self.optimizer.m = vec(&ck.backbone[1]);
        self.optimizer.v = vec(&ck.backbone[2]);
        self.optimizer.t = ck.position.backbone_t;
        self.head.set_params(&vec(&ck.head[0]))?;
        if ck.head[1].len() != self.learner.adam.m.len() {
            return Err(bad("head optimiser state does not match the head"));
        }
        self.learner.adam.m = vec(&ck.head[1]);
        self.learner.adam.v = vec(&ck.head[2]);
        self.learner.adam.t = ck.position.head_t;
        self.learner.skipped = ck.position.skipped_meta;
        self.position = ck.position.clone();
        Ok(())
    }

    /// The backbone.
    pub fn model(&self) -> &dyn Backbone {
        &*self.model
    }

    /// The combinator being trained.
    pub fn head(&self) -> &dyn MetaLoss {
        &*self.head
    }

    /// The run file.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Where the run stands.
    pub fn position(&self) -> &RunPosition {
        &self.position
    }

    /// The ranks of the run.
    pub fn communicator(&self) -> &dyn Communicator {
        &*self.comm
    }

    /// The run's state as a checkpoint holds it.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
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
        }
    }

    /// Runs the remaining epochs, writing into `out`: `log.jsonl`
    /// (appended), its TensorBoard event file (with `tensorboard = true`),
    /// `checkpoint.safetensors`, `backbone.safetensors`,
    /// `head.safetensors` (MELTR heads) and `summary.json`; `on_event` is
    /// told each step and epoch (a progress display).
    pub fn run(&mut self, out: &Path, on_event: impl FnMut(&Event)) -> Result<RunSummary> {
        let mut observers = self.observers(out)?;
        observers.push(Progress(on_event));
        self.run_with(&mut observers)
    }

    /// The observers of [`Trainer::run`]: rank 0 alone writes (every rank
    /// holds the same state); every rank checks that they agree.
    pub fn observers<'a>(&self, out: &Path) -> Result<Observers<'a>> {
        let mut o = Observers::default();
        let writer = self.comm.rank() == 0;
        if writer {
            o.push(RunLog::open(out, self)?);
        }
        o.push(RankCheck);
        if writer {
            o.push(Checkpointer {
                out: out.into(),
                policy: self.checkpoints,
            });
        }
        Ok(o)
    }

    /// Runs the remaining epochs, telling `observers` what happens.
    pub fn run_with(&mut self, observers: &mut Observers) -> Result<RunSummary> {
        if self.position.step == 0 && self.wants_warm_start() {
            let fit = self.warm_start()?;
            observers.tell(|o| o.warm_start(&fit))?;
        }
        let (mut epochs, mut weight_health) = (vec![], WeightHealth::default());
        let mut skips = SkipPolicy::new(self.config.max_skips_in_a_row);
        for epoch in self.position.epochs_done..self.config.epochs {
            let done = self.train_epoch(epoch, &mut skips, observers)?;
            let report = self.end_epoch(epoch, &done)?;
            observers.tell(|o| o.epoch(&report, &done.tally.health, self))?;
            weight_health.add(&done.tally.health);
            epochs.push(report);
        }
        // The last epoch is always evaluated; a resumed run with no epoch
        // left to train evaluates here.
        let final_test = match epochs.last().and_then(|e: &EpochReport| e.test) {
            Some(t) => t,
            None => self.evaluate(Split::Test)?,
        };
        let summary = RunSummary {
            tasks: self.config.task_names(),
            final_test,
            epochs,
            skipped_steps: self.position.skipped_steps,
            skipped_meta: self.learner.skipped,
            weight_health,
            peak_rss_mib: peak_rss_mib(),
        };
        observers.tell(|o| o.end(&summary))?;
        Ok(summary)
    }

    /// One epoch's backbone steps, each followed by a meta step when the
    /// schedule says so.
    fn train_epoch(
        &mut self,
        epoch: usize,
        skips: &mut SkipPolicy,
        observers: &mut Observers,
    ) -> Result<EpochDone> {
        let order: Vec<usize> = shuffled(self.train.len(), self.seeds.batch_order(epoch))
            .into_iter()
            .map(|j| self.train[j])
            .collect();
        let batches: Vec<&[usize]> = batches(&order, self.config.batch_size).collect();
        let total_steps = (self.config.epochs * self.steps_per_epoch()) as u64;
        let resume_from = format!(
            "; the last checkpoint is the end of epoch {}",
            self.position.epochs_done
        );
        let mut ring = BatchRing::new(self.config.schedule.ring);
        let mut tally = EpochTally::new(self.tasks.len());
        let (started, mut meta_seconds) = (Instant::now(), 0.0);
        for (i, idx) in batches.iter().enumerate() {
            self.position.step += 1;
            let at = StepAt {
                epoch,
                step: self.position.step,
                index: i + 1,
                of: batches.len(),
            };
            let seeds = self.seeds.step(at.step);
            let batch = self.shard_batch(idx);
            // The head is in training mode for the step and its meta step
            // (one dropout mask each) and in evaluation mode everywhere else.
            self.head.set_dropout_seed(Some(seeds.dropout()));
            self.optimizer.config.lr = self.config.optimizer.lr_at(at.step - 1, total_steps);
            let done = self.stepper().step(&at, &batch, seeds.tasks(), observers)?;
            match &done {
                Some(d) => tally.see(d),
                None => self.position.skipped_steps += 1,
            }
            skips.record(done.is_some(), at.step, &resume_from)?;
            ring.push(batch, seeds.tasks());
            if self.config.schedule.is_meta_step(at.step) {
                let t0 = Instant::now();
                let outcome = self.meta_step(&ring, seeds)?;
                meta_seconds += t0.elapsed().as_secs_f64();
                observers.tell(|o| o.meta_step(&at, &outcome))?;
            }
            self.head.set_dropout_seed(None);
        }
        Ok(EpochDone {
            tally,
            seconds: started.elapsed().as_secs_f64(),
            meta_seconds,
        })
    }

    /// The backbone's side of a step, borrowed from the run.
    fn stepper(&mut self) -> Stepper<'_> {
        Stepper {
            tasks: &self.tasks,
            model: &mut *self.model,
            optimizer: &mut self.optimizer,
            combinator: &mut *self.head,
            comm: &*self.comm,
        }
    }

    /// A meta step on two batches of the ring (the first replaced by a
    /// held-out batch when the run holds examples out).
    fn meta_step(&mut self, ring: &BatchRing<Batch>, seeds: StepSeeds) -> Result<MetaOutcome> {
        let (a, b) = ring
            .draw_pair(seeds.meta_pair())
            .expect("ring holds a batch");
        let held;
        let a = if self.meta_pool.is_empty() {
            a
        } else {
            held = self.held_out_batch(seeds.held_out());
            &held
        };
        let mut tm = Sharded {
            inner: TaskModel {
                model: &mut *self.model,
                tasks: &self.tasks,
                primary: self.config.primary_index(),
            },
            comm: &*self.comm,
        };
        let outcome = self
            .learner
            .step(&mut tm, &mut *self.head, (&a.0, a.1), (&b.0, b.1))?;
        self.model.release_all_buffers();
        Ok(outcome)
    }

    /// Closes an epoch: the position a checkpoint records, the epoch's
    /// report (evaluated every `eval_every`-th epoch and the last), the
    /// combinator told the epoch's mean losses.
    fn end_epoch(&mut self, epoch: usize, done: &EpochDone) -> Result<EpochReport> {
        self.position.epochs_done = epoch + 1;
        self.position.backbone_t = self.optimizer.t;
        self.position.head_t = self.learner.adam.t;
        self.position.skipped_meta = self.learner.skipped;
        let evaluated =
            epoch + 1 == self.config.epochs || (epoch + 1) % self.config.eval_every.max(1) == 0;
        let report = EpochReport {
            epoch,
            seconds: done.seconds,
            meta_seconds: done.meta_seconds,
            val: evaluated.then(|| self.evaluate(Split::Val)).transpose()?,
            test: evaluated.then(|| self.evaluate(Split::Test)).transpose()?,
            mean_losses: done.tally.losses.means(),
            mean_weights: done.tally.weights.means(),
        };
        self.head.observe(&Observation::Epoch {
            mean_losses: &report.mean_losses,
        })?;
        Ok(report)
    }

    /// Backbone steps in an epoch (the number of [`batches`]).
    fn steps_per_epoch(&self) -> usize {
        batches(&self.train, self.config.batch_size).count()
    }

    /// The data set's metric on `split` (the first `eval_limit` examples).
    pub fn evaluate(&self, split: Split) -> Result<Metrics> {
        evaluate(&*self.model, &*self.data, split, self.config.eval_limit)
    }

    /// Whether a fresh run starts by fitting its head to the plain sum.
    fn wants_warm_start(&self) -> bool {
        self.config.meta.warm_start > 0 && self.head.num_params() > 0 && !self.head.adapts_itself()
    }

    /// Fits the head to the plain sum around the K losses of the first
    /// training batch (a fresh run's first act).
    fn warm_start(&mut self) -> Result<(SumFit, SumFit)> {
        let n = self.config.batch_size.min(self.train.len());
        let batch = self.shard_batch(&self.train[..n]);
        let seed = self.seeds.warm_start();
        let mut losses = self
            .tasks
            .losses_at(&*self.model, self.model.params(), &batch, seed)?;
        self.comm
            .all_reduce_weighted_mean(&mut losses, batch.size as f32)?;
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
        let idx: Vec<usize> = order[..n].iter().map(|&j| self.meta_pool[j]).collect();
        (self.shard_batch(&idx), seed)
    }

    /// This rank's share of the training batch of examples `idx` (all of
    /// it in one process), placed in the global batch for the tasks, which
    /// read other ranks' examples from the whole batch kept with it.
    fn shard_batch(&self, idx: &[usize]) -> Batch {
        self.data
            .batch(Split::Train, idx)
            .into_shard(self.comm.clone())
    }
}

/// An epoch's batches from its example order: `size` examples each, and a
/// last shorter one if it holds at least 2.
fn batches(order: &[usize], size: usize) -> impl Iterator<Item = &[usize]> {
    order.chunks(size).filter(|c| c.len() >= 2)
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

/// The backbone a run starts from: the file the run file names, a fresh
/// one of the data set's kind (`pretrain_preset = "none"`), or one
/// pretrained with its `pretrain_preset` and the data set's pretext tasks.
pub fn starting_backbone(config: &TrainConfig) -> Result<Box<dyn Backbone>> {
    if let Some(path) = &config.backbone {
        return load_backbone(path);
    }
    if config.pretrain_preset == "none" {
        let data = config.dataset()?;
        let kind = config.model.as_deref().unwrap_or(data.backbone_kind());
        return backbone_from_kind(kind, &serde_json::Value::Null, config.seed);
    }
    let pc = crate::train::pretrain::PretrainConfig {
        data_seed: config.data_seed,
        ..crate::train::pretrain::PretrainConfig::preset(&config.pretrain_preset)?
    };
    if pc.data != config.data {
        return Err(Error::InvalidSetting {
            field: "pretrain_preset".into(),
            value: config.pretrain_preset.clone(),
            reason: format!(
                "it pretrains on `{}`, the run trains on `{}`",
                pc.data, config.data
            ),
        });
    }
    let tasks = crate::train::pretrain::default_tasks(&pc)?;
    tracing::info!(preset = %config.pretrain_preset, "no backbone given: pretraining one");
    Ok(crate::train::pretrain::pretrain(&pc, &tasks, |_| {})?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aux_task::Task;
    use crate::backbone::parts::VisualFeatures;
    use crate::backbone::{Loss, Net};
    use dfdx::prelude::*;

    /// The plugins live outside the core crate: a one-line task stands in.
    #[derive(Debug, Default, serde::Deserialize)]
    struct Probe {}

    impl Task for Probe {
        const NAME: &'static str = "trainer_probe";
        const SUMMARY: &'static str = "test task";
        type Needs = (VisualFeatures,);
        fn loss<T: crate::backbone::AnyTape>(
            &self,
            net: &dyn Net<T>,
            b: &Batch,
            _: u64,
        ) -> Result<Loss<T>> {
            Ok(net.part::<VisualFeatures>(b.visual()?)?.square().mean())
        }
    }
    inventory::submit!(crate::aux_task::TaskRegistration::of::<Probe>());

    /// A loss that is NaN for one step seed in `N` (every step when 1) and,
    /// when `N > 2`, +inf for another.
    #[derive(Debug, Default, serde::Deserialize)]
    struct NanEvery<const N: u64> {}

    macro_rules! nan_task {
        ($n:literal, $name:literal) => {
            impl Task for NanEvery<$n> {
                const NAME: &'static str = $name;
                const SUMMARY: &'static str = "test task";
                type Needs = (VisualFeatures,);
                fn loss<T: crate::backbone::AnyTape>(
                    &self,
                    net: &dyn Net<T>,
                    b: &Batch,
                    seed: u64,
                ) -> Result<Loss<T>> {
                    let factor = match seed % $n {
                        0 => f32::NAN,
                        1 if $n > 2 => f32::INFINITY,
                        _ => 1.0,
                    };
                    Ok(net.part::<VisualFeatures>(b.visual()?)?.square().mean() * factor)
                }
            }
            inventory::submit!(crate::aux_task::TaskRegistration::of::<NanEvery<$n>>());
        };
    }
    nan_task!(3, "nan_every_third");
    nan_task!(1, "nan_always");

    fn digits_run(tasks: &str, extra: &str) -> (Trainer, std::path::PathBuf) {
        let text = format!(
            "preset = \"digits-tiny\"\nepochs = 3\ntasks = {tasks}\n\
             primary = \"trainer_probe\"\n{extra}\n[meta_loss]\ntype = \"meltr\"\n\
             preset = \"allinone\"\ntasks = 2\n"
        );
        let config = TrainConfig::from_toml(&text, Path::new("run.toml")).unwrap();
        let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "meltr-nan-{}-{}",
            std::process::id(),
            tasks.len() + extra.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        (Trainer::new(config, model).unwrap(), dir)
    }

    #[test]
    fn non_finite_steps_are_skipped_counted_and_never_reach_the_weights() {
        let (mut t, dir) = digits_run("[\"trainer_probe\", \"nan_every_third\"]", "");
        let summary = t.run(&dir, |_| {}).unwrap();
        let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
        let skips = log
            .lines()
            .filter(|l| l.contains("\"kind\":\"skip\""))
            .count() as u64;
        let steps = log
            .lines()
            .filter(|l| l.contains("\"kind\":\"step\""))
            .count();
        assert!(skips > 0 && steps > 0, "{skips} skips, {steps} steps");
        assert_eq!(summary.skipped_steps, skips);
        // Weights, head and both optimisers' states are finite, in memory
        // and in the checkpoint (whose reader refuses a non-finite value).
        assert!(t.model().params().is_finite());
        assert!(t.head().params().is_finite());
        assert!(t.optimizer.m.is_finite() && t.optimizer.v.is_finite());
        assert!(t.learner.adam.m.is_finite() && t.learner.adam.v.is_finite());
        Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    }

    #[test]
    fn a_run_whose_every_step_is_non_finite_stops_with_an_error_that_says_so() {
        let (mut t, dir) = digits_run(
            "[\"trainer_probe\", \"nan_always\"]",
            "max_skips_in_a_row = 4",
        );
        let before = t.model().params().to_vec();
        let err = t.run(&dir, |_| {}).err().unwrap().to_string();
        assert!(
            err.contains("last 4 steps were all skipped") && err.contains("max_skips_in_a_row = 4"),
            "{err}"
        );
        assert_eq!(t.model().params().to_vec(), before);
        let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
        assert_eq!(
            log.lines()
                .filter(|l| l.contains("\"kind\":\"skip\""))
                .count(),
            4
        );
    }

    fn tiny(extra: &str) -> Result<Trainer> {
        let run = "preset = \"tiny\"\ntasks = [\"trainer_probe\"]\nprimary = \"trainer_probe\"\n\
                   [meta_loss]\ntype = \"sum\"\n";
        let config = TrainConfig::from_toml(&format!("{run}{extra}"), Path::new("run.toml"))?;
        let model = backbone_from_kind("video_text", &serde_json::Value::Null, 0)?;
        Trainer::new(config, model)
    }

    /// Counts the events and reads the checkpoint as each epoch ends.
    #[derive(Default)]
    struct Recorder {
        steps: u64,
        metas: u64,
        checkpointed: Vec<Option<usize>>,
        ended: bool,
    }

    impl crate::train::Observer for Recorder {
        fn step(&mut self, at: &StepAt, _: &crate::train::StepOutcome) -> Result<()> {
            self.steps += 1;
            assert_eq!(at.step, self.steps);
            Ok(())
        }
        fn meta_step(&mut self, _: &StepAt, outcome: &MetaOutcome) -> Result<()> {
            self.metas += u64::from(matches!(outcome, MetaOutcome::Updated { .. }));
            Ok(())
        }
        fn epoch(&mut self, _: &EpochReport, _: &WeightHealth, run: &Trainer) -> Result<()> {
            let out = std::env::temp_dir().join(format!("meltr-observed-{}", std::process::id()));
            let ck = Checkpoint::load(&out.join("checkpoint.safetensors")).ok();
            self.checkpointed.push(ck.map(|c| c.position.epochs_done));
            assert_eq!(run.position().step, self.steps);
            Ok(())
        }
        fn end(&mut self, summary: &RunSummary) -> Result<()> {
            self.ended = summary.epochs.len() == 3;
            Ok(())
        }
    }

    #[test]
    fn observers_see_every_event_and_the_checkpoint_policy_picks_the_epochs() {
        let text = "preset = \"tiny\"\nepochs = 3\ntasks = [\"trainer_probe\"]\n\
                    primary = \"trainer_probe\"\n[meta_loss]\ntype = \"sum\"\n";
        let config = TrainConfig::from_toml(text, Path::new("run.toml")).unwrap();
        let model = backbone_from_kind("video_text", &serde_json::Value::Null, 0).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        let out = std::env::temp_dir().join(format!("meltr-observed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        t.set_checkpoint_policy(CheckpointPolicy { every: 2 });
        let mut recorder = Recorder::default();
        let mut observers = t.observers(&out).unwrap();
        observers.push(&mut recorder);
        t.run_with(&mut observers).unwrap();
        drop(observers);
        // After epoch 1 none yet; after epoch 2 (every 2nd); after the last.
        assert_eq!(recorder.checkpointed, [None, Some(2), Some(3)]);
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        let count = |kind: &str| log.lines().filter(|l| l.contains(kind)).count() as u64;
        assert_eq!(recorder.steps, count("\"kind\":\"step\""));
        assert_eq!(recorder.metas, count("\"kind\":\"meta\""));
        assert!(recorder.steps == 3 * t.steps_per_epoch() as u64 && recorder.ended);
        assert!(out.join("summary.json").exists());
    }

    #[test]
    fn holdout_keeps_the_last_examples_out_of_the_backbone_steps() {
        let all = tiny("").unwrap();
        let t = tiny("[schedule]\nholdout = 8").unwrap();
        assert_eq!(all.train.len(), 48);
        assert!(all.meta_pool.is_empty());
        assert_eq!(t.train.len(), 40);
        assert_eq!(t.meta_pool, (40..48).collect::<Vec<_>>());
        // A held-out batch is a pure function of its seed, drawn from the pool.
        let (a, sa) = t.held_out_batch(7);
        let (b, _) = t.held_out_batch(7);
        assert_eq!((a.size, sa), (8, 7));
        assert_eq!(a, b);
        let pool = t.data.batch(Split::Train, &t.meta_pool);
        let (text, pool_text) = (a.text().unwrap(), pool.text().unwrap());
        for i in 0..a.size {
            let tokens = text.caption(i);
            assert!((0..pool.size).any(|j| pool_text.caption(j) == tokens));
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

    #[test]
    fn the_heads_dropout_takes_effect_in_training_steps_only() {
        let run = |dropout: f32| {
            let text = format!(
                "preset = \"digits-tiny\"\nepochs = 1\ntasks = [\"trainer_probe\"]\n\
                 primary = \"trainer_probe\"\n[meta_loss]\ntype = \"meltr\"\n\
                 preset = \"allinone\"\ntasks = 1\ndropout = {dropout}\n"
            );
            let config = TrainConfig::from_toml(&text, Path::new("run.toml")).unwrap();
            let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
            let mut t = Trainer::new(config, model).unwrap();
            let dir = std::env::temp_dir()
                .join(format!("meltr-dropout-{}-{dropout}", std::process::id()));
            t.run(&dir, |_| {}).unwrap();
            let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
            let weights: Vec<serde_json::Value> = log
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|v| v["kind"] == "step")
                .map(|v| v["weights"].clone())
                .collect();
            // Evaluation mode after the run: no mask.
            let l = [1.0];
            assert_eq!(t.head().eval(&l).unwrap(), t.head().eval(&l).unwrap());
            weights
        };
        let (plain, dropped) = (run(0.0), run(0.5));
        assert_eq!(plain.len(), dropped.len());
        assert_ne!(
            plain[0], dropped[0],
            "dropout 0.5 changed no step's weights"
        );
    }

    #[test]
    fn the_recipe_schedules_the_rate_over_the_whole_run_and_clips_per_tensor() {
        let text = "preset = \"digits-tiny\"\nepochs = 2\ntasks = [\"trainer_probe\"]\n\
                    primary = \"trainer_probe\"\n[meta_loss]\ntype = \"sum\"\n\
                    [optimizer]\nlr = 0.01\nschedule = \"linear\"\nclip = \"per_tensor\"\n";
        let config = TrainConfig::from_toml(text, Path::new("run.toml")).unwrap();
        let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        let total = 2 * t.steps_per_epoch() as u64;
        match &t.optimizer.clip {
            crate::tensor::GradClip::PerTensor { blocks, max_norm } => {
                assert_eq!(*max_norm, 1.0);
                assert_eq!(blocks.len(), t.model().layout().blocks().len());
                assert_eq!(blocks.last().unwrap().end, t.model().params().len());
            }
            other => panic!("{other:?}"),
        }
        let dir = std::env::temp_dir().join(format!("meltr-recipe-{}", std::process::id()));
        t.run(&dir, |_| {}).unwrap();
        // Every step was taken; the last ran at 1/total of the base rate.
        assert_eq!(t.optimizer.t, total);
        assert!((t.optimizer.config.lr - 0.01 / total as f32).abs() < 1e-9);
    }

    #[test]
    fn adaptive_baselines_resume_bit_identically_and_refuse_meta_steps() {
        let text = |epochs: usize, meta_loss: &str| {
            format!(
                "preset = \"digits-tiny\"\nepochs = {epochs}\n\
                 tasks = [\"trainer_probe\", \"nan_every_third\"]\nprimary = \"trainer_probe\"\n\
                 [meta_loss]\n{meta_loss}\n[strategy]\ntype = \"none\"\n"
            )
        };
        let config =
            |epochs, m| TrainConfig::from_toml(&text(epochs, m), Path::new("run.toml")).unwrap();
        let model = || backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
        for (i, m) in [
            "type = \"uncertainty\"\ntasks = 2",
            "type = \"dwa\"\ntasks = 2",
            "type = \"gradnorm\"\ntasks = 2",
        ]
        .into_iter()
        .enumerate()
        {
            let dir = |n: &str| {
                std::env::temp_dir().join(format!("meltr-adaptive-{}-{i}-{n}", std::process::id()))
            };
            let mut whole = Trainer::new(config(3, m), model()).unwrap();
            whole.run(&dir("whole"), |_| {}).unwrap();
            let mut part = Trainer::new(config(2, m), model()).unwrap();
            part.run(&dir("part"), |_| {}).unwrap();
            let ck = dir("part").join("checkpoint.safetensors");
            let mut rest = Trainer::resume(config(3, m), &ck).unwrap();
            rest.run(&dir("part"), |_| {}).unwrap();
            assert_eq!(
                rest.head().params().to_vec(),
                whole.head().params().to_vec(),
                "{m}"
            );
            assert_eq!(
                rest.model().params().to_vec(),
                whole.model().params().to_vec(),
                "{m}"
            );
            // The state moved (DWA from its third epoch on).
            assert!(
                whole
                    .head()
                    .params()
                    .to_vec()
                    .iter()
                    .any(|x| *x != 0.0 && *x != 1.0),
                "{m}"
            );
            let meta = text(1, m).replace("type = \"none\"", "type = \"identity\"");
            let e = TrainConfig::from_toml(&meta, Path::new("run.toml"))
                .unwrap()
                .build()
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("strategy") && e.contains("none"), "{e}");
        }
    }

    #[test]
    fn vanishing_and_negative_weights_are_recorded_in_log_and_summary() {
        let text = "preset = \"digits-tiny\"\nepochs = 1\n\
                    tasks = [\"trainer_probe\", \"nan_every_third\"]\nprimary = \"trainer_probe\"\n\
                    [meta_loss]\ntype = \"weighted\"\nweights = [0.005, -0.001]\n";
        let config = TrainConfig::from_toml(text, Path::new("run.toml")).unwrap();
        let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        let dir = std::env::temp_dir().join(format!("meltr-health-{}", std::process::id()));
        let summary = t.run(&dir, |_| {}).unwrap();
        let h = &summary.weight_health;
        assert!(
            h.steps > 0 && h.vanished == h.steps && h.negative == h.steps,
            "{h:?}"
        );
        assert_eq!(h.min_weight, Some(-0.001));
        assert!((h.min_total.unwrap() - 0.004).abs() < 1e-7, "{h:?}");
        let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
        assert!(log.contains("\"kind\":\"weight_health\""), "{log}");
        let sum = tiny("").unwrap().head().eval(&[1.0]).unwrap();
        let mut healthy = WeightHealth::default();
        healthy.see(&sum.weights);
        assert!(!healthy.alarmed());
    }

    #[test]
    fn epochs_are_evaluated_every_eval_every_and_at_the_end() {
        let text = "preset = \"digits-tiny\"\nepochs = 3\neval_every = 2\n\
                    tasks = [\"trainer_probe\"]\nprimary = \"trainer_probe\"\n\
                    [meta_loss]\ntype = \"sum\"\n";
        let config = TrainConfig::from_toml(text, Path::new("run.toml")).unwrap();
        let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        let dir = std::env::temp_dir().join(format!("meltr-eval-every-{}", std::process::id()));
        let summary = t.run(&dir, |_| {}).unwrap();
        let evaluated: Vec<bool> = summary.epochs.iter().map(|e| e.val.is_some()).collect();
        assert_eq!(evaluated, [false, true, true]);
        assert_eq!(summary.epochs[2].test, Some(summary.final_test));
        let e = TrainConfig::from_toml("eval_every = 0", Path::new("run.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("eval_every = 0"), "{e}");
    }

    #[test]
    fn a_task_the_backbone_cannot_serve_is_refused_naming_task_and_part() {
        let run =
            "preset = \"digits-tiny\"\ntasks = [\"trainer_probe\"]\nprimary = \"trainer_probe\"\n\
                   [meta_loss]\ntype = \"sum\"\n";
        let config = TrainConfig::from_toml(run, Path::new("run.toml")).unwrap();
        // A video-text backbone asked to classify digits: the shape check names the input.
        let model = backbone_from_kind("video_text", &serde_json::Value::Null, 0).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        let dir = std::env::temp_dir().join(format!("meltr-trainer-{}", std::process::id()));
        let err = t.run(&dir, |_| {}).err().unwrap().to_string();
        assert!(
            err.contains("visual input") && err.contains("clips"),
            "{err}"
        );
    }
}
