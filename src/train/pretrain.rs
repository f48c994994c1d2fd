//! Pretraining: the "foundation model" that fine-tuning starts from.
//!
//! Trains a fresh backbone of the data set's kind on its pretraining
//! stream with the plain sum of its tasks (by default the data set's own:
//! the five pretext tasks on the video-text world, rotation and masked
//! pixels on the digits), Adam, one new batch per step, with fine-tuning's
//! step and skip policy (`train/stepper.rs`, `max_skips_in_a_row`) and no
//! meta step. Batch `t` is the stream's batch `t`, and step `t`'s task
//! randomness is seeded from `(seed, t)`, so a run is reproducible. Before
//! and after training, every task's loss is measured on a fixed held-out
//! batch.
//!
//! A run file names a preset, overrides settings and lists the tasks; it
//! is laid over its preset as a training run file is (`train/run_file.rs`):
//!
//! ```toml
//! preset = "quick"      # or "long", "tiny"; "digits", "digits-tiny"
//! steps = 500
//! lr = 2e-3
//!
//! [[tasks]]
//! type = "cmlm"
//! mask_prob = 0.15
//!
//! [[tasks]]
//! type = "align"
//! ```

use crate::aux_task::{TaskSet, TaskSpec};
use crate::backbone::{backbone_from_kind, Backbone};
use crate::dataset::dataset_by_name;
use crate::distributed::SingleProcess;
use crate::error::{Error, Result};
use crate::meta_loss::Sum;
use crate::tensor::{Adam, AdamConfig};
use crate::train::step::StepOutcome;
use crate::train::RunFile;
use crate::train::{
    Event, Means, Observer, Observers, Progress, Seeds, SkipPolicy, StepAt, Stepper,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Pretraining settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// The registered data set whose stream is trained on; the backbone is
    /// of its kind.
    pub data: String,
    /// Optimiser steps.
    pub steps: u64,
    /// Clips per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Seed of the initial weights and of the tasks' randomness.
    pub seed: u64,
    /// Seed of the data set (the synthetic world's; real data ignores it).
    #[serde(alias = "world_seed")]
    pub data_seed: u64,
    /// Clips in the held-out batch measured before and after.
    pub eval_size: usize,
    /// Steps per logged average.
    pub log_every: u64,
    /// The backbone's settings (for the video-text backbone, which
    /// optional heads it has); `null` for its defaults.
    pub backbone: serde_json::Value,
    /// Stop with an error after this many steps in a row were skipped for
    /// non-finite values (default 50) instead of spinning.
    #[serde(default = "fifty", skip_serializing_if = "is_fifty")]
    pub max_skips_in_a_row: u64,
}

fn fifty() -> u64 {
    50
}

fn is_fifty(n: &u64) -> bool {
    *n == 50
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig::preset("quick").expect("quick preset exists")
    }
}

/// Names of the pretraining presets (`preset = ...` in a pretraining run
/// file, `pretrain_preset = ...` in a training one).
pub const PRETRAIN_PRESETS: [&str; 5] = ["tiny", "quick", "long", "digits", "digits-tiny"];

impl PretrainConfig {
    /// A named preset: on the video-text world `tiny` (seconds, for tests),
    /// `quick` (the default, a couple of minutes on a 2-core CPU), `long`
    /// (about ten times quick); on the digits' unlabelled pool `digits`
    /// (seconds) and `digits-tiny`.
    pub fn preset(name: &str) -> Result<PretrainConfig> {
        let base = PretrainConfig {
            data: "video_text".into(),
            steps: 1500,
            batch_size: 32,
            lr: 2e-3,
            weight_decay: 0.0,
            seed: 0,
            data_seed: 0,
            eval_size: 128,
            log_every: 100,
            backbone: serde_json::Value::Null,
            max_skips_in_a_row: 50,
        };
        match name {
            "tiny" => Ok(PretrainConfig {
                steps: 40,
                batch_size: 8,
                eval_size: 16,
                log_every: 10,
                ..base
            }),
            "quick" => Ok(base),
            "long" => Ok(PretrainConfig {
                steps: 15000,
                lr: 1e-3,
                log_every: 500,
                ..base
            }),
            "digits" => Ok(PretrainConfig {
                data: "digits".into(),
                steps: 600,
                ..base
            }),
            "digits-tiny" => Ok(PretrainConfig {
                data: "digits".into(),
                steps: 20,
                batch_size: 8,
                eval_size: 16,
                log_every: 10,
                ..base
            }),
            other => Err(Error::InvalidSetting {
                field: "preset".into(),
                value: other.into(),
                reason: format!("known presets: {}", PRETRAIN_PRESETS.join(", ")),
            }),
        }
    }

    /// The settings as a TOML table (a `null` backbone left out: TOML has
    /// no null, and it is the default).
    fn as_table(&self) -> toml::Table {
        let mut json = serde_json::to_value(self).expect("settings serialise");
        if let serde_json::Value::Object(m) = &mut json {
            m.retain(|_, v| !v.is_null());
        }
        toml::Table::try_from(json).expect("settings are TOML")
    }

    fn check(&self) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(Error::InvalidSetting {
                field: field.into(),
                value,
                reason: reason.into(),
            })
        };
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "must be at least 1");
        }
        if self.max_skips_in_a_row == 0 {
            return bad("max_skips_in_a_row", "0".into(), "must be at least 1");
        }
        if self.eval_size == 0 {
            return bad("eval_size", "0".into(), "must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "must be a positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "must be a non-negative number",
            );
        }
        Ok(())
    }
}

/// A parsed pretraining run file.
#[derive(Debug)]
pub struct PretrainRun {
    /// Settings (preset plus overrides).
    pub config: PretrainConfig,
    /// The tasks (the data set's pretext tasks if the file lists none).
    pub tasks: TaskSet,
}

impl PretrainRun {
    /// Parses run-file text; `path` is only used in error messages. The
    /// file is laid over its `preset` as a training run file is
    /// (`train/run_file.rs`).
    pub fn from_toml(text: &str, path: &Path) -> Result<PretrainRun> {
        let mut file = RunFile::parse(text, path)?;
        let name = file.take_preset()?.unwrap_or_else(|| "quick".into());
        let tasks = file.take("tasks");
        let preset = PretrainConfig::preset(&name)?.as_table();
        let c: PretrainConfig = file.over(preset, &[], &[("world_seed", "data_seed")])?;
        let cfg_err = |message: String| file.error(message);
        let data = dataset_by_name(&c.data, c.data_seed).map_err(|e| cfg_err(e.to_string()))?;
        let tasks = match tasks {
            None => TaskSet::from_names(&data.pretrain_tasks())?,
            Some(v) => {
                let specs: Vec<TaskSpec> = v
                    .try_into()
                    .map_err(|e: toml::de::Error| cfg_err(format!("tasks: {}", e.message())))?;
                TaskSet::from_specs(&specs).map_err(|e| cfg_err(format!("tasks: {e}")))?
            }
        };
        if tasks.is_empty() {
            return Err(cfg_err("`tasks` is empty; list at least one task".into()));
        }
        c.check().map_err(|e| cfg_err(e.to_string()))?;
        // Settings of the backbone are checked by building one now.
        backbone_from_kind(data.backbone_kind(), &c.backbone, c.seed)
            .map_err(|e| cfg_err(e.to_string()))?;
        Ok(PretrainRun { config: c, tasks })
    }

    /// Reads and parses a run file.
    pub fn load(path: &Path) -> Result<PretrainRun> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }
}

/// What a pretraining run did.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainReport {
    /// Task names.
    pub tasks: Vec<String>,
    /// Steps taken.
    pub steps: u64,
    /// Steps skipped because a loss was not finite.
    pub skipped: u64,
    /// Wall-clock seconds of the training loop.
    pub seconds: f64,
    /// Mean training loss per task over the first logging window.
    pub first: Vec<f32>,
    /// Mean training loss per task over the last logging window.
    pub last: Vec<f32>,
    /// Held-out loss per task before training.
    pub eval_before: Vec<f32>,
    /// Held-out loss per task after training.
    pub eval_after: Vec<f32>,
}

/// Formats `name=value` pairs for logs.
fn pairs(names: &[String], values: &[f32]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}={v:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tasks pretraining on `config`'s data set combines by default.
pub fn default_tasks(config: &PretrainConfig) -> Result<TaskSet> {
    TaskSet::from_names(&dataset_by_name(&config.data, config.data_seed)?.pretrain_tasks())
}

/// Pretrains a fresh backbone with the fine-tuning loop's step and skip
/// policy, the plain sum and no meta step; tells `on_event` each step (a
/// progress display: epoch 0, `of` = `steps`). Logs the mean loss of each
/// task every `log_every` steps (tracing, level info).
pub fn pretrain(
    config: &PretrainConfig,
    tasks: &TaskSet,
    on_event: impl FnMut(&Event),
) -> Result<(Box<dyn Backbone>, PretrainReport)> {
    config.check()?;
    let data = dataset_by_name(&config.data, config.data_seed)?;
    let mut model = backbone_from_kind(data.backbone_kind(), &config.backbone, config.seed)?;
    tasks.check_served(&*model)?;
    let names = tasks.names();
    let seeds = Seeds(config.seed);
    // The held-out batch: stream indices far beyond any training run.
    let eval = data.pretrain_batch(u64::MAX / 2 / config.eval_size as u64, config.eval_size);
    let eval_before = tasks.losses_at(&*model, model.params(), &eval, seeds.pretrain_eval())?;
    tracing::info!("held-out before: {}", pairs(&names, &eval_before));

    let adam_cfg = AdamConfig {
        lr: config.lr,
        weight_decay: config.weight_decay,
        ..Default::default()
    };
    let mut optimizer = Adam::new(adam_cfg, model.params());
    let mut windows = LossWindows::new(config, names.clone());
    let mut observers = Observers::default();
    observers.push(&mut windows);
    observers.push(Progress(on_event));
    let mut stepper = Stepper {
        tasks,
        model: &mut *model,
        optimizer: &mut optimizer,
        combinator: &mut Sum {},
        comm: &SingleProcess,
    };
    let mut skips = SkipPolicy::new(config.max_skips_in_a_row);
    let mut skipped = 0u64;
    let start = Instant::now();
    for step in 0..config.steps {
        let at = StepAt {
            epoch: 0,
            step,
            index: step as usize + 1,
            of: config.steps as usize,
        };
        let batch = data.pretrain_batch(step, config.batch_size);
        let done = stepper.step(&at, &batch, seeds.pretrain_step(step), &mut observers)?;
        skipped += u64::from(done.is_none());
        skips.record(done.is_some(), step + 1, "")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(observers);
    let eval_after = tasks.losses_at(&*model, model.params(), &eval, seeds.pretrain_eval())?;
    tracing::info!("held-out after: {}", pairs(&names, &eval_after));
    Ok((
        model,
        PretrainReport {
            tasks: names,
            steps: config.steps,
            skipped,
            seconds,
            first: windows.first.means(),
            last: windows.last.means(),
            eval_before,
            eval_after,
        },
    ))
}

/// Pretraining's figures of the taken steps: each task's mean loss per
/// `log_every` steps (logged), over the first and over the last window.
struct LossWindows {
    names: Vec<String>,
    steps: u64,
    /// Steps per logged mean.
    log_every: u64,
    /// Steps of the first and last windows.
    report: u64,
    log: Means,
    first: Means,
    last: Means,
}

impl LossWindows {
    fn new(config: &PretrainConfig, names: Vec<String>) -> LossWindows {
        let log_every = config.log_every.max(1);
        let k = names.len();
        LossWindows {
            names,
            steps: config.steps,
            log_every,
            report: log_every.min((config.steps / 5).max(1)),
            log: Means::new(k),
            first: Means::new(k),
            last: Means::new(k),
        }
    }
}

impl Observer for LossWindows {
    fn step(&mut self, at: &StepAt, done: &StepOutcome) -> Result<()> {
        let (step, losses) = (at.step, &done.losses);
        self.log.add(losses);
        if step < self.report {
            self.first.add(losses);
        }
        if step >= self.steps.saturating_sub(self.report) {
            self.last.add(losses);
        }
        if (step + 1) % self.log_every == 0 || step + 1 == self.steps {
            let mean = self.log.means();
            tracing::info!(step = step + 1, "train loss: {}", pairs(&self.names, &mean));
            self.log = Means::new(self.names.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretraining_stops_after_max_skips_in_a_row_non_finite_steps() {
        // `nan_always` (a test task of train/trainer.rs) is NaN on every step.
        let text = "preset = \"digits-tiny\"\nmax_skips_in_a_row = 3\n\
                    [[tasks]]\ntype = \"nan_always\"\n";
        let run = PretrainRun::from_toml(text, Path::new("run.toml")).unwrap();
        assert_eq!(run.config.max_skips_in_a_row, 3);
        let mut steps = 0;
        let err = pretrain(&run.config, &run.tasks, |_| steps += 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("step 3") && err.contains("last 3 steps were all skipped"),
            "{err}"
        );
        assert_eq!(steps, 0);
        // The default is written nowhere: backbone files keep their metadata.
        let default = PretrainConfig::preset("tiny").unwrap();
        assert!(!serde_json::to_string(&default)
            .unwrap()
            .contains("max_skips"));
    }

    #[test]
    fn a_pretraining_run_file_is_laid_over_its_preset_and_errors_name_the_line() {
        let run = PretrainRun::from_toml(
            "preset = \"tiny\"\nworld_seed = 4\nlr = 0.01\n[[tasks]]\ntype = \"trainer_probe\"\n",
            Path::new("run.toml"),
        )
        .unwrap();
        let tiny = PretrainConfig::preset("tiny").unwrap();
        assert_eq!(
            run.config,
            PretrainConfig {
                data_seed: 4,
                lr: 0.01,
                ..tiny
            }
        );
        let e = PretrainRun::from_toml("preset = \"tiny\"\n\nsteps = -1\n", Path::new("run.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.toml") && e.contains("line 3 (`steps = -1`)"),
            "{e}"
        );
    }
}
