//! Pretraining: the "foundation model" that fine-tuning starts from.
//!
//! Trains a fresh backbone of the data set's kind on its pretraining
//! stream with the plain sum of its tasks (by default the data set's own:
//! the five pretext tasks on the video-text world, rotation and masked
//! pixels on the digits), Adam, one new batch per step. Batch `t` is the
//! stream's batch `t`, and step `t`'s task randomness is seeded from
//! `(seed, t)`, so a run is reproducible. Before and after training, every
//! task's loss is measured on a fixed held-out batch.
//!
//! A run file names a preset, overrides settings and lists the tasks:
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
use crate::dataset::{dataset_by_name, mix64};
use crate::distributed::SingleProcess;
use crate::error::{Error, Result};
use crate::meta_loss::Sum;
use crate::tensor::{Adam, AdamConfig};
use crate::train::backbone_step;
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
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig::preset("quick").expect("quick preset exists")
    }
}

/// Names of the presets.
pub const PRESETS: [&str; 5] = ["tiny", "quick", "long", "digits", "digits-tiny"];

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
                reason: format!("known presets: {}", PRESETS.join(", ")),
            }),
        }
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

/// A run file: a preset, settings that override it (all optional), tasks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFile {
    preset: Option<String>,
    data: Option<String>,
    tasks: Option<Vec<TaskSpec>>,
    steps: Option<u64>,
    batch_size: Option<usize>,
    lr: Option<f32>,
    weight_decay: Option<f32>,
    seed: Option<u64>,
    #[serde(alias = "world_seed")]
    data_seed: Option<u64>,
    eval_size: Option<usize>,
    log_every: Option<u64>,
    backbone: Option<serde_json::Value>,
}

/// One line for a TOML error: the line number and text it points at, and the message.
pub(crate) fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let src = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} (`{src}`): {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
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
    /// Parses run-file text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<PretrainRun> {
        let cfg_err = |message: String| Error::Config {
            path: path.into(),
            message,
        };
        let f: RunFile = toml::from_str(text).map_err(|e| cfg_err(toml_error_line(text, &e)))?;
        let mut c = PretrainConfig::preset(f.preset.as_deref().unwrap_or("quick"))?;
        c.data = f.data.unwrap_or(c.data);
        c.steps = f.steps.unwrap_or(c.steps);
        c.batch_size = f.batch_size.unwrap_or(c.batch_size);
        c.lr = f.lr.unwrap_or(c.lr);
        c.weight_decay = f.weight_decay.unwrap_or(c.weight_decay);
        c.seed = f.seed.unwrap_or(c.seed);
        c.data_seed = f.data_seed.unwrap_or(c.data_seed);
        c.eval_size = f.eval_size.unwrap_or(c.eval_size);
        c.log_every = f.log_every.unwrap_or(c.log_every);
        c.backbone = f.backbone.unwrap_or(c.backbone);
        let data = dataset_by_name(&c.data, c.data_seed).map_err(|e| cfg_err(e.to_string()))?;
        let tasks = match &f.tasks {
            None => TaskSet::from_names(&data.pretrain_tasks())?,
            Some(a) => TaskSet::from_specs(a).map_err(|e| cfg_err(format!("tasks: {e}")))?,
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

/// One finished step, for progress displays.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Zero-based step index.
    pub step: u64,
    /// Total steps.
    pub steps: u64,
    /// Each task's loss on this step's batch (in task order).
    pub losses: Vec<f32>,
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

/// Pretrains a fresh backbone; calls `on_step` after every step. Logs the
/// mean loss of each task every `log_every` steps (tracing, level info).
pub fn pretrain(
    config: &PretrainConfig,
    tasks: &TaskSet,
    mut on_step: impl FnMut(&StepReport),
) -> Result<(Box<dyn Backbone>, PretrainReport)> {
    config.check()?;
    let data = dataset_by_name(&config.data, config.data_seed)?;
    let mut model = backbone_from_kind(data.backbone_kind(), &config.backbone, config.seed)?;
    tasks.check_served(&*model)?;
    let names = tasks.names();
    let k = tasks.len();
    // The held-out batch: stream indices far beyond any training run.
    let eval = data.pretrain_batch(u64::MAX / 2 / config.eval_size as u64, config.eval_size);
    let eval_seed = mix64(config.seed ^ 0xE7A1);
    let eval_before = tasks.losses_at(&*model, model.params(), &eval, eval_seed)?;
    tracing::info!("held-out before: {}", pairs(&names, &eval_before));

    let adam_cfg = AdamConfig {
        lr: config.lr,
        weight_decay: config.weight_decay,
        ..Default::default()
    };
    let mut adam = Adam::new(adam_cfg, model.params());
    let window = config.log_every.max(1);
    let report_window = window.min((config.steps / 5).max(1));
    let (mut first, mut last) = (vec![0.0f64; k], vec![0.0f64; k]);
    let (mut first_n, mut last_n) = (0u64, 0u64);
    let mut log_sum = vec![0.0f64; k];
    let mut log_n = 0u64;
    let mut skipped = 0u64;
    let start = Instant::now();
    for step in 0..config.steps {
        let batch = data.pretrain_batch(step, config.batch_size);
        let seed = mix64(config.seed ^ mix64(step));
        let Some(done) = backbone_step(
            tasks,
            &mut *model,
            &mut adam,
            &Sum {},
            &batch,
            seed,
            &SingleProcess,
            None,
        )?
        else {
            skipped += 1;
            continue;
        };
        let losses = done.losses;
        for i in 0..k {
            let l = losses[i] as f64;
            log_sum[i] += l;
            if step < report_window {
                first[i] += l;
            }
            if step >= config.steps.saturating_sub(report_window) {
                last[i] += l;
            }
        }
        first_n += (step < report_window) as u64;
        last_n += (step >= config.steps.saturating_sub(report_window)) as u64;
        log_n += 1;
        if (step + 1) % window == 0 || step + 1 == config.steps {
            let mean: Vec<f32> = log_sum.iter().map(|s| (s / log_n as f64) as f32).collect();
            tracing::info!(step = step + 1, "train loss: {}", pairs(&names, &mean));
            log_sum.iter_mut().for_each(|s| *s = 0.0);
            log_n = 0;
        }
        on_step(&StepReport {
            step,
            steps: config.steps,
            losses,
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    let eval_after = tasks.losses_at(&*model, model.params(), &eval, eval_seed)?;
    tracing::info!("held-out after: {}", pairs(&names, &eval_after));
    let mean = |v: Vec<f64>, n: u64| {
        v.into_iter()
            .map(|s| (s / n.max(1) as f64) as f32)
            .collect()
    };
    Ok((
        model,
        PretrainReport {
            tasks: names,
            steps: config.steps,
            skipped,
            seconds,
            first: mean(first, first_n),
            last: mean(last, last_n),
            eval_before,
            eval_after,
        },
    ))
}
