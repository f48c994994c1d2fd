//! A fine-tuning run file: a named preset (`quick`, the default, or `tiny`)
//! with any field overridden. Errors name the file, the field and the line.
//!
//! ```toml
//! preset = "quick"
//! epochs = 4
//! tasks = ["align", "cmlm", "rotation"]
//! [meta_loss]
//! type = "meltr"
//! preset = "allinone"
//! tasks = 3
//! [strategy]
//! type = "neumann"
//! terms = 3
//! alpha = 0.1
//! ```

use crate::backbone::AdamConfig;
use crate::error::{Error, Result};
use crate::hypergrad::{HypergradStrategy, MetaSchedule, MetaSettings};
use crate::meta_loss::MetaLoss;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Names of the built-in presets.
pub const PRESETS: [&str; 2] = ["quick", "tiny"];

fn preset_text(name: &str) -> Result<&'static str> {
    match name {
        "quick" => Ok(include_str!("presets/quick.toml")),
        "tiny" => Ok(include_str!("presets/tiny.toml")),
        other => Err(Error::InvalidSetting {
            field: "preset".into(),
            value: other.into(),
            reason: format!("known presets: {}", PRESETS.join(", ")),
        }),
    }
}

/// Everything a fine-tuning run needs.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Registered task names, in loss order.
    pub tasks: Vec<String>,
    /// The primary (target) task; one of `tasks`.
    pub primary: String,
    /// Passes over the downstream training split.
    pub epochs: usize,
    /// Examples per backbone step.
    pub batch_size: usize,
    /// Seed of the batch order and the tasks' randomness.
    pub seed: u64,
    /// Seed of the world (the data).
    pub world_seed: u64,
    /// Use only the first N training examples (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N examples of each split (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_limit: Option<usize>,
    /// A pretrained backbone checkpoint; without one, `pretrain_preset` is run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone: Option<PathBuf>,
    /// Pretraining preset used when no backbone is given.
    pub pretrain_preset: String,
    /// The backbone's optimiser.
    pub optimizer: AdamConfig,
    /// The loss combinator.
    pub meta_loss: Box<dyn MetaLoss>,
    /// The hypergradient strategy.
    pub strategy: Box<dyn HypergradStrategy>,
    /// Meta-learner settings.
    #[serde(default)]
    pub meta: MetaSettings,
    /// Meta-step schedule.
    #[serde(default)]
    pub schedule: MetaSchedule,
}

impl TrainConfig {
    /// A built-in preset.
    pub fn preset(name: &str) -> Result<TrainConfig> {
        Self::from_toml(preset_text(name)?, Path::new(&format!("<preset {name}>")))
    }

    /// Parses a run file's text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<TrainConfig> {
        let cfg_err = |message: String| Error::Config {
            path: path.into(),
            message: message.trim_end().replace('\n', " | "),
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| cfg_err(e.to_string()))?;
        let preset = match table.remove("preset") {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(v) => return Err(cfg_err(format!("`preset` must be a string, found {v}"))),
        };
        // A file without a preset must be complete; one with a preset
        // overrides whole top-level keys of it.
        let merged = match preset {
            None => text.to_string(),
            Some(name) => {
                let mut base: toml::Table = preset_text(&name)?.parse().expect("presets parse");
                for (k, v) in table {
                    base.insert(k, v);
                }
                toml::to_string(&base).expect("tables serialise")
            }
        };
        // Field errors are reported against the user's own text when it is
        // complete, so the line numbers are the user's.
        let config: TrainConfig = toml::from_str(&merged).map_err(|e| {
            let e2 = toml::from_str::<toml::Table>(text).err();
            cfg_err(e2.map(|e| e.to_string()).unwrap_or_else(|| e.to_string()))
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Reads and parses a run file.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Index of the primary task.
    pub fn primary_index(&self) -> usize {
        self.tasks
            .iter()
            .position(|t| *t == self.primary)
            .expect("checked")
    }

    /// The run file as TOML (what checkpoints store to compare on resume).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("configs serialise")
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, value: String, reason: String| {
            Err(Error::Config {
                path: path.into(),
                message: format!("{field} = {value}: {reason}"),
            })
        };
        if self.tasks.is_empty() {
            return bad("tasks", "[]".into(), "list at least one task".into());
        }
        if !self.tasks.contains(&self.primary) {
            return bad(
                "primary",
                format!("{:?}", self.primary),
                format!("must be one of {:?}", self.tasks),
            );
        }
        if let Some(k) = self.meta_loss.num_tasks() {
            if k != self.tasks.len() {
                return bad(
                    "meta_loss.tasks",
                    k.to_string(),
                    format!("the run lists {} tasks", self.tasks.len()),
                );
            }
        }
        if self.batch_size < 2 {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                "must be at least 2 (contrastive tasks need negatives)".into(),
            );
        }
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "must be at least 1".into());
        }
        if !(self.optimizer.lr.is_finite() && self.optimizer.lr > 0.0) {
            return bad(
                "optimizer.lr",
                self.optimizer.lr.to_string(),
                "must be a positive number".into(),
            );
        }
        Ok(())
    }
}

/// The top-level keys whose values differ between two run files (for
/// `--resume`), with both values.
pub fn config_diff(a: &str, b: &str) -> Vec<String> {
    let parse = |s: &str| s.parse::<toml::Table>().unwrap_or_default();
    let (a, b) = (parse(a), parse(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&toml::Value>| {
                v.map(|v| v.to_string())
                    .unwrap_or_else(|| "(absent)".into())
            };
            format!("{k}: {} vs {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}
