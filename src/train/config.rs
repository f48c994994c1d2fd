//! A fine-tuning run file: a named preset (`quick`, the default, `few`,
//! `tiny` on the video-text world; `digits`, `digits-tiny` on handwritten
//! digits) with any field overridden. Errors name the file, the field and
//! the line.
//!
//! In the settings tables (`[optimizer]`, `[meta]`, `[schedule]`) a run file
//! overrides single keys and keeps the preset's others; `[meta_loss]` and
//! `[strategy]` name a `type`, and a run file that has them replaces them
//! whole. `tasks` lists bare names (default settings) or tables naming the
//! task in `type` with its settings (`[[tasks]]`), validated when the file
//! is read.
//!
//! ```toml
//! preset = "quick"
//! epochs = 4
//! tasks = ["align", "cmlm", { type = "rotation" }]
//! [meta_loss]
//! type = "meltr"
//! preset = "allinone"
//! tasks = 3
//! [strategy]
//! type = "neumann"
//! terms = 3
//! alpha = 0.1
//! ```

use super::recipe::OptimizerConfig;
use crate::aux_task::{find_task, TaskSpec};
use crate::error::{Error, Result};
use crate::hypergrad::{HypergradStrategy, MetaSchedule, MetaSettings};
use crate::meta_loss::MetaLoss;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Names of the built-in presets.
pub const PRESETS: [&str; 5] = ["quick", "few", "tiny", "digits", "digits-tiny"];

fn preset_text(name: &str) -> Result<&'static str> {
    match name {
        "quick" => Ok(include_str!("presets/quick.toml")),
        "few" => Ok(include_str!("presets/few.toml")),
        "tiny" => Ok(include_str!("presets/tiny.toml")),
        "digits" => Ok(include_str!("presets/digits.toml")),
        "digits-tiny" => Ok(include_str!("presets/digits-tiny.toml")),
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
    /// The registered data set (`video_text`, `digits`); its backbone kind
    /// is the one a run starts from.
    pub data: String,
    /// The tasks with their settings, in loss order.
    pub tasks: Vec<TaskSpec>,
    /// The primary (target) task; one of `tasks`.
    pub primary: String,
    /// Passes over the downstream training split.
    pub epochs: usize,
    /// Examples per backbone step.
    pub batch_size: usize,
    /// Seed of the batch order and the tasks' randomness.
    pub seed: u64,
    /// Seed of the data set (the synthetic world's; real data ignores it).
    #[serde(alias = "world_seed")]
    pub data_seed: u64,
    /// Use only the first N training examples (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N examples of each split (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_limit: Option<usize>,
    /// Evaluate every N epochs, and after the last (default: every epoch).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub eval_every: usize,
    /// Stop with an error after this many backbone steps in a row were
    /// skipped for non-finite values (default 50) instead of spinning.
    #[serde(default = "fifty", skip_serializing_if = "is_fifty")]
    pub max_skips_in_a_row: u64,
    /// A pretrained backbone file; without one, `pretrain_preset` is run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone: Option<PathBuf>,
    /// Pretraining preset used when no backbone is given (`none`: start
    /// from a freshly initialised backbone).
    pub pretrain_preset: String,
    /// The backbone's optimiser, schedule and clipping.
    pub optimizer: OptimizerConfig,
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
    /// Also write the run's curves as a TensorBoard event file beside
    /// `log.jsonl` (`train/tensorboard.rs`; default off).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tensorboard: bool,
}

impl TrainConfig {
    /// A built-in preset.
    pub fn preset(name: &str) -> Result<TrainConfig> {
        Self::from_toml(
            &format!("preset = \"{name}\""),
            Path::new(&format!("<preset {name}>")),
        )
    }

    /// Parses a run file's text; `path` names it in errors. Every field
    /// defaults to the named `preset` (`quick` when none is named).
    pub fn from_toml(text: &str, path: &Path) -> Result<TrainConfig> {
        let cfg_err = |message: String| Error::Config {
            path: path.into(),
            message: message.trim_end().replace('\n', " | "),
        };
        // Parsed straight from the user's text, so errors carry its lines.
        let o: Overrides = toml::from_str(text).map_err(|e| cfg_err(e.to_string()))?;
        let name = o.preset.as_deref().unwrap_or("quick");
        let preset = preset_text(name)?;
        let mut c: TrainConfig = toml::from_str(preset).expect("presets parse");
        macro_rules! take {
            ($($f:ident),*) => { $(if let Some(v) = o.$f { c.$f = v; })* };
        }
        take!(
            data,
            tasks,
            primary,
            epochs,
            batch_size,
            seed,
            data_seed,
            pretrain_preset,
            meta_loss,
            strategy
        );
        // Settings tables: the preset's keys, then the run file's.
        let (preset, user) = (table(preset), table(text));
        macro_rules! merge {
            ($($f:ident),*) => { $(if o.$f.is_some() {
                c.$f = merged(&preset, &user, stringify!($f)).map_err(|e| cfg_err(e.to_string()))?;
            })* };
        }
        merge!(optimizer, meta, schedule);
        c.train_limit = o.train_limit.or(c.train_limit);
        c.eval_limit = o.eval_limit.or(c.eval_limit);
        c.eval_every = o.eval_every.unwrap_or(c.eval_every);
        c.max_skips_in_a_row = o.max_skips_in_a_row.unwrap_or(c.max_skips_in_a_row);
        c.backbone = o.backbone.or(c.backbone);
        c.tensorboard = o.tensorboard.unwrap_or(c.tensorboard);
        c.check(path)?;
        Ok(c)
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
            .position(|t| t.name == self.primary)
            .expect("checked")
    }

    /// The task names, in loss order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// A fresh combinator and strategy as this run file describes them
    /// (trait objects cannot be cloned: they are rebuilt from its TOML).
    pub fn fresh_head_and_strategy(
        &self,
    ) -> Result<(Box<dyn MetaLoss>, Box<dyn HypergradStrategy>)> {
        let copy: TrainConfig =
            toml::from_str(&self.to_toml()).map_err(|e| Error::Backend(e.to_string()))?;
        Ok((copy.meta_loss, copy.strategy))
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
        let known = crate::dataset::registered_datasets();
        if !known.iter().any(|d| d.name == self.data) {
            let names: Vec<&str> = known.iter().map(|d| d.name).collect();
            return bad(
                "data",
                format!("{:?}", self.data),
                format!("known data sets: {}", names.join(", ")),
            );
        }
        if self.tasks.is_empty() {
            return bad("tasks", "[]".into(), "list at least one task".into());
        }
        if !self.tasks.iter().any(|t| t.name == self.primary) {
            return bad(
                "primary",
                format!("{:?}", self.primary),
                format!("must be one of {:?}", self.task_names()),
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
        if self.eval_every == 0 {
            return bad("eval_every", "0".into(), "must be at least 1".into());
        }
        if self.max_skips_in_a_row == 0 {
            return bad(
                "max_skips_in_a_row",
                "0".into(),
                "must be at least 1".into(),
            );
        }
        if self.meta_loss.adapts_itself()
            && !toml::to_string(&self.strategy)
                .unwrap_or_default()
                .contains("type = \"none\"")
        {
            return bad(
                "strategy",
                "(a meta step)".into(),
                "this meta_loss adapts its own weights: use [strategy] type = \"none\"".into(),
            );
        }
        self.optimizer.check().map_err(|e| Error::Config {
            path: path.into(),
            message: e.to_string(),
        })?;
        // Settings of the linked tasks; an unknown name is refused, listing
        // the known ones, when the run's tasks are built.
        for t in self.tasks.iter().filter(|t| find_task(&t.name).is_ok()) {
            t.build().map_err(|e| Error::Config {
                path: path.into(),
                message: format!("tasks: {e}"),
            })?;
        }
        Ok(())
    }
}

fn one() -> usize {
    1
}

fn fifty() -> u64 {
    50
}

fn is_fifty(n: &u64) -> bool {
    *n == 50
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A TOML text already known to parse, as a table.
fn table(text: &str) -> toml::Table {
    text.parse().expect("parsed before")
}

/// The table `key` of `base` with the keys of `over`'s table `key` laid over it.
fn merged<T: serde::de::DeserializeOwned>(
    base: &toml::Table,
    over: &toml::Table,
    key: &str,
) -> std::result::Result<T, toml::de::Error> {
    let mut t = match base.get(key) {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => toml::Table::new(),
    };
    if let Some(toml::Value::Table(o)) = over.get(key) {
        t.extend(o.clone());
    }
    toml::Value::Table(t).try_into()
}

/// A run file as written: any field may be left to the preset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    preset: Option<String>,
    data: Option<String>,
    tasks: Option<Vec<TaskSpec>>,
    primary: Option<String>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    seed: Option<u64>,
    #[serde(alias = "world_seed")]
    data_seed: Option<u64>,
    train_limit: Option<usize>,
    eval_limit: Option<usize>,
    eval_every: Option<usize>,
    max_skips_in_a_row: Option<u64>,
    backbone: Option<PathBuf>,
    pretrain_preset: Option<String>,
    optimizer: Option<OptimizerConfig>,
    meta_loss: Option<Box<dyn MetaLoss>>,
    strategy: Option<Box<dyn HypergradStrategy>>,
    meta: Option<MetaSettings>,
    schedule: Option<MetaSchedule>,
    tensorboard: Option<bool>,
}

/// The top-level keys whose values differ between two run files (for
/// `--resume`), with both values. `epochs` is not compared: a resumed run
/// may be extended.
pub fn config_diff(a: &str, b: &str) -> Vec<String> {
    let parse = |s: &str| s.parse::<toml::Table>().unwrap_or_default();
    let (a, b) = (parse(a), parse(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "epochs" && a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&toml::Value>| {
                v.map(|v| v.to_string())
                    .unwrap_or_else(|| "(absent)".into())
            };
            format!("{k}: {} vs {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<TrainConfig> {
        TrainConfig::from_toml(text, Path::new("run.toml"))
    }

    #[test]
    fn a_settings_table_overrides_single_keys_and_keeps_the_presets_others() {
        let few = TrainConfig::preset("few").unwrap();
        let c = run("preset = \"few\"\n[optimizer]\nweight_decay = 0.01\n\
                     [meta]\nclip = 10.0\n[schedule]\nholdout = 16\n")
        .unwrap();
        assert_eq!(
            (c.optimizer.weight_decay, few.optimizer.weight_decay),
            (0.01, 0.0)
        );
        assert_eq!((c.optimizer.lr, few.optimizer.lr), (5e-4, 5e-4));
        assert_eq!((c.meta.clip, few.meta.clip), (10.0, 50.0));
        assert_eq!((c.meta.warm_start, few.meta.warm_start), (200, 200));
        assert_eq!((c.schedule.holdout, few.schedule.holdout), (16, 0));
        assert_eq!(c.schedule.meta_every, few.schedule.meta_every);
    }

    #[test]
    fn a_typed_table_is_replaced_whole() {
        let c = run("preset = \"few\"\n[strategy]\ntype = \"identity\"\n").unwrap();
        assert_eq!(c.to_toml().contains("unrolled"), false);
        let e = run("preset = \"few\"\n[strategy]\nlr = 0.1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.toml") && e.contains("type"), "{e}");
    }

    #[test]
    fn an_unknown_key_in_a_settings_table_is_named_with_its_line() {
        let e = run("preset = \"few\"\n\n[meta]\nclipp = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.toml") && e.contains("clipp") && e.contains("line 4"),
            "{e}"
        );
    }
}
