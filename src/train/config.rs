//! A fine-tuning run file: a named preset (`quick`, the default, `few`,
//! `tiny` on the video-text world; `digits`, `digits-large`, `digits-tiny`
//! on handwritten digits) with any field overridden. Errors name the file,
//! the field and the line.
//!
//! In the settings tables (`[optimizer]`, `[meta]`, `[schedule]`,
//! `[data_settings]`) a run file
//! overrides single keys and keeps the preset's others; `[meta_loss]` and
//! `[strategy]` name a `type`, and a run file that has them replaces them
//! whole (`run_file.rs` lays a file over its preset, for pretraining too).
//! `tasks` lists bare names (default settings) or tables naming the task in
//! `type` with its settings (`[[tasks]]`), validated when the file is read.
//!
//! A parsed run file is plain data: `[meta_loss]` and `[strategy]` stay
//! [`Spec`]s, built into a combinator and a strategy by
//! [`TrainConfig::build`] (which reads a head's `weights` file), never while
//! parsing. Here `preset` is the run file's preset; `[meta_loss] preset`
//! is the MELTR head's size preset (`univl`, `allinone`, ...), a setting of
//! the combinator; `pretrain_preset` names a pretraining preset.
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
use super::run_file::RunFile;
use crate::aux_task::{find_task, TaskSpec};
use crate::dataset::{dataset_with_settings, Dataset};
use crate::error::{Error, Result};
use crate::hypergrad::{HypergradStrategy, MetaSchedule, MetaSettings};
use crate::meta_loss::MetaLoss;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Names of the fine-tuning run-file presets (`preset = ...` in a
/// training run file; not the head's size preset of `[meta_loss]`).
pub const TRAIN_PRESETS: [&str; 6] = [
    "quick",
    "few",
    "tiny",
    "digits",
    "digits-large",
    "digits-tiny",
];

fn preset_text(name: &str) -> Result<&'static str> {
    match name {
        "quick" => Ok(include_str!("presets/quick.toml")),
        "few" => Ok(include_str!("presets/few.toml")),
        "tiny" => Ok(include_str!("presets/tiny.toml")),
        "digits" => Ok(include_str!("presets/digits.toml")),
        "digits-large" => Ok(include_str!("presets/digits-large.toml")),
        "digits-tiny" => Ok(include_str!("presets/digits-tiny.toml")),
        other => Err(Error::InvalidSetting {
            field: "preset".into(),
            value: other.into(),
            reason: format!("known presets: {}", TRAIN_PRESETS.join(", ")),
        }),
    }
}

/// Everything a fine-tuning run needs, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The data set's own settings (`[data_settings]`; for `digits` the
    /// split sizes, `train_per_class`, `val_per_class`, `test_rows`),
    /// handed to its registration as JSON.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub data_settings: toml::Table,
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
    /// The registered backbone kind a fresh start builds (with
    /// `pretrain_preset = "none"`; default: the data set's own): how a run
    /// file names a model of the user's that their binary links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The backbone's optimiser, schedule and clipping.
    pub optimizer: OptimizerConfig,
    /// The loss combinator (a registered `MetaLoss` type and its settings).
    pub meta_loss: Spec,
    /// The hypergradient strategy (a registered `HypergradStrategy` type
    /// and its settings).
    pub strategy: Spec,
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
    /// The run file it was read from (for errors; not a setting).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A typed settings table as written (`[meta_loss]`, `[strategy]`): the
/// registered `type` and its other keys, plain data until built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The registered type name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl Spec {
    /// The object it describes (a `Box<dyn MetaLoss>` or `Box<dyn
    /// HypergradStrategy>`): its settings are checked here.
    pub fn build<T: DeserializeOwned>(&self) -> Result<T> {
        let mut t = self.settings.clone();
        t.insert("type".into(), self.kind.clone().into());
        toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| Error::InvalidSetting {
                field: "type".into(),
                value: format!("{:?}", self.kind),
                reason: e.message().trim().replace('\n', " | "),
            })
    }

    /// The spec of a built object, every setting written out.
    pub fn of<T: Serialize + ?Sized>(object: &T) -> Result<Spec> {
        let value = toml::Value::try_from(object).map_err(|e| Error::Backend(e.to_string()))?;
        value
            .try_into()
            .map_err(|e: toml::de::Error| Error::Backend(e.to_string()))
    }
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
        let mut file = RunFile::parse(text, path)?;
        let name = file.take_preset()?.unwrap_or_else(|| "quick".into());
        let preset = preset_text(&name)?.parse().expect("presets parse");
        let settings_tables = ["optimizer", "meta", "schedule", "data_settings"];
        let mut c: TrainConfig =
            file.over(preset, &settings_tables, &[("world_seed", "data_seed")])?;
        c.source = Some(path.into());
        c.check(path)?;
        Ok(c)
    }

    /// Reads and parses a run file.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// The run's data set: `data` built with `data_seed` and `[data_settings]`.
    pub fn dataset(&self) -> Result<Arc<dyn Dataset>> {
        let settings = if self.data_settings.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::to_value(&self.data_settings).map_err(|e| Error::Backend(e.to_string()))?
        };
        dataset_with_settings(&self.data, self.data_seed, &settings)
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

    /// The combinator and the strategy the run file describes, checked
    /// against each other and the tasks; errors name the run file and the
    /// table.
    pub fn build(&self) -> Result<(Box<dyn MetaLoss>, Box<dyn HypergradStrategy>)> {
        let bad = |message: String| Error::Config {
            path: self.source.clone().unwrap_or_else(|| "(run file)".into()),
            message,
        };
        let head: Box<dyn MetaLoss> = self
            .meta_loss
            .build()
            .map_err(|e| bad(format!("[meta_loss]: {e}")))?;
        let strategy: Box<dyn HypergradStrategy> = self
            .strategy
            .build()
            .map_err(|e| bad(format!("[strategy]: {e}")))?;
        if let Some(k) = head.num_tasks() {
            if k != self.tasks.len() {
                return Err(bad(format!(
                    "meta_loss.tasks = {k}: the run lists {} tasks",
                    self.tasks.len()
                )));
            }
        }
        if head.adapts_itself() && self.strategy.kind != "none" {
            return Err(bad(
                "strategy = (a meta step): this meta_loss adapts its own weights: \
                 use [strategy] type = \"none\""
                    .into(),
            ));
        }
        Ok((head, strategy))
    }

    /// The run file as TOML with its combinator and strategy written out
    /// whole as `build` made them (what checkpoints store to compare on
    /// resume).
    pub fn canonical_toml(
        &self,
        head: &dyn MetaLoss,
        strategy: &dyn HypergradStrategy,
    ) -> Result<String> {
        let mut c = self.clone();
        c.meta_loss = Spec::of(head)?;
        c.strategy = Spec::of(strategy)?;
        Ok(c.to_toml())
    }

    /// The run file as TOML.
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
        if !self.data_settings.is_empty() {
            self.dataset().map_err(|e| Error::Config {
                path: path.into(),
                message: e.to_string(),
            })?;
            if self.pretrain_preset != "none" && self.backbone.is_none() {
                return bad(
                    "data_settings",
                    serde_json::to_string(&self.data_settings).unwrap_or_default(),
                    "pretraining splits the data its own way: set pretrain_preset = \"none\" \
                     or give a backbone"
                        .into(),
                );
            }
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
        if let Some(model) = &self.model {
            if let Err(Error::InvalidSetting { reason, .. }) = crate::backbone::find_backbone(model)
            {
                return bad("model", format!("{model:?}"), reason);
            }
            if self.pretrain_preset != "none" {
                return bad(
                    "model",
                    format!("{model:?}"),
                    "a model named here starts fresh: set pretrain_preset = \"none\"".into(),
                );
            }
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
    fn data_settings_merge_key_by_key_and_reach_the_data_set() {
        use crate::dataset::Split;
        // The 10-per-class preset has none: the data set's defaults.
        let digits = TrainConfig::preset("digits").unwrap();
        assert!(digits.data_settings.is_empty());
        assert_eq!(digits.dataset().unwrap().len(Split::Train), 100);
        let large = TrainConfig::preset("digits-large").unwrap();
        let n = large.data_settings["train_per_class"].as_integer().unwrap() as usize;
        let data = large.dataset().unwrap();
        assert_eq!(
            (data.len(Split::Train), data.len(Split::Val)),
            (10 * n, 150)
        );
        let c = run("preset = \"digits-large\"\n[data_settings]\nval_per_class = 12\n").unwrap();
        let data = c.dataset().unwrap();
        assert_eq!(
            (data.len(Split::Train), data.len(Split::Val)),
            (10 * n, 120)
        );
        // Written out and read back unchanged (what a checkpoint compares).
        assert_eq!(run(&c.to_toml()).unwrap().data_settings, c.data_settings);
        let e = run("preset = \"digits\"\ndata_settings = { val_per_class = 80 }\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.toml") && e.contains("train_per_class + val_per_class = 10 + 80"),
            "{e}"
        );
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
        assert_eq!((c.optimizer.lr, few.optimizer.lr), (5e-5, 5e-5));
        assert_eq!((c.meta.clip, few.meta.clip), (10.0, 50.0));
        assert_eq!((c.meta.warm_start, few.meta.warm_start), (200, 200));
        assert_eq!((c.schedule.holdout, few.schedule.holdout), (16, 0));
        assert_eq!(c.schedule.meta_every, few.schedule.meta_every);
    }

    #[test]
    fn a_typed_table_is_replaced_whole() {
        let c = run("preset = \"few\"\n[strategy]\ntype = \"identity\"\n").unwrap();
        assert_eq!(c.to_toml().contains("unrolled"), false);
        assert_eq!(c.strategy.kind, "identity");
        let e = run("preset = \"few\"\n[strategy]\nlr = 0.1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.toml") && e.contains("type"), "{e}");
    }

    #[test]
    fn parsing_reads_no_file_and_building_names_the_run_file_and_table() {
        let text = "preset = \"tiny\"\n[meta_loss]\ntype = \"meltr\"\npreset = \"allinone\"\n\
                    tasks = 3\nweights = \"/no/such/head.safetensors\"\n";
        let c = run(text).unwrap();
        assert_eq!(c.clone(), c);
        assert_eq!(c.meta_loss.kind, "meltr");
        let e = c.build().err().unwrap().to_string();
        assert!(
            e.contains("run.toml") && e.contains("[meta_loss]") && e.contains("/no/such"),
            "{e}"
        );
        let e =
            run("preset = \"tiny\"\n[meta_loss]\ntype = \"sum\"\n[strategy]\ntype = \"nope\"\n")
                .unwrap()
                .build()
                .err()
                .unwrap()
                .to_string();
        assert!(e.contains("[strategy]") && e.contains("nope"), "{e}");
        let e = run("preset = \"tiny\"\n[meta_loss]\ntype = \"weighted\"\nweights = [1.0]\n")
            .unwrap()
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("meta_loss.tasks = 1") && e.contains("3 tasks"),
            "{e}"
        );
    }

    #[test]
    fn a_checkpoints_run_file_writes_the_built_objects_settings_out() {
        let c = run("preset = \"tiny\"\n").unwrap();
        let (head, strategy) = c.build().unwrap();
        let text = c.canonical_toml(&*head, &*strategy).unwrap();
        let back = run(&text).unwrap();
        // Defaults the run file left out are written (`seed`, `dropout`).
        assert_eq!(back.meta_loss.settings.get("seed"), Some(&0.into()));
        assert_eq!(back.tasks, c.tasks);
        assert!(config_diff(&text, &back.canonical_toml(&*head, &*strategy).unwrap()).is_empty());
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

    #[test]
    fn a_model_is_a_registered_kind_that_starts_fresh() {
        let fresh = "preset = \"digits-tiny\"\npretrain_preset = \"none\"\n";
        let c = run(&format!("{fresh}model = \"image_resnet\"\n")).unwrap();
        assert_eq!(c.model.as_deref(), Some("image_resnet"));
        let e = run(&format!("{fresh}model = \"nope\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.toml") && e.contains("model = \"nope\"") && e.contains("image_resnet"),
            "{e}"
        );
        let e = run("preset = \"tiny\"\nmodel = \"video_text\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pretrain_preset = \"none\""), "{e}");
    }
}
