//! Data sets: what the trainer, pretraining, evaluation and benchmarks read
//! batches from, behind one trait, and the registry that finds a data set
//! by the name a run file gives (`data = "digits"`).
//!
//! A data set has a downstream train, validation and test split, an
//! unbounded pretraining stream, the metric that fits its primary task
//! ([`Scoring`]), and the backbone kind it is meant for. The built-in
//! ones (`meltr::domains`) register themselves; a data set of your own
//! implements [`Dataset`] and is handed to the trainer directly, or
//! registered the same way.
//!
//! ```
//! use meltr::dataset::{dataset_by_name, Split};
//! let data = dataset_by_name("digits", 0).unwrap();
//! let b = data.batch(Split::Train, &[0, 1, 2]);
//! assert_eq!((b.size, b.labels().unwrap().classes), (3, 10));
//! assert!(data.len(Split::Test) >= 1000);
//! ```

use crate::backbone::Batch;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where an example comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The pretraining stream.
    Pretrain,
    /// Downstream training.
    Train,
    /// Downstream validation (what settings are chosen on).
    Val,
    /// Downstream test.
    Test,
}

/// How a backbone is scored on a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scoring {
    /// Text-to-visual retrieval: R@1, R@5, R@10, median rank.
    Retrieval,
    /// Classification of the visual input: accuracy.
    Classification,
}

/// A source of batches; see the module docs.
pub trait Dataset: std::fmt::Debug + Send + Sync {
    /// The registered name.
    fn name(&self) -> &str;

    /// Examples in a finite split (0 for [`Split::Pretrain`], which is unbounded).
    fn len(&self, split: Split) -> usize;

    /// The examples `indices` of a finite split, as one batch. Panics on an
    /// index out of range (callers draw indices below [`Dataset::len`]).
    fn batch(&self, split: Split, indices: &[usize]) -> Batch;

    /// Pretraining batch number `step` of the stream (a pure function of
    /// `step` and `size`).
    fn pretrain_batch(&self, step: u64, size: usize) -> Batch;

    /// The metric that fits the primary task.
    fn scoring(&self) -> Scoring;

    /// The kind of the built-in backbone this data is meant for.
    fn backbone_kind(&self) -> &str;

    /// The tasks pretraining combines by default, in order.
    fn pretrain_tasks(&self) -> Vec<String>;
}

/// One registered data set.
#[derive(Debug)]
pub struct DatasetRegistration {
    /// The name a run file gives (`data = "digits"`).
    pub name: &'static str,
    /// One line for listings.
    pub summary: &'static str,
    /// Builds it from a seed (the synthetic world uses it; real data
    /// ignores it) and a run file's `[data_settings]` as JSON (`null`: the
    /// defaults; a data set without settings refuses any, [`no_settings`]).
    pub build: fn(seed: u64, settings: &serde_json::Value) -> Result<Arc<dyn Dataset>>,
}

/// For a data set that takes no settings: an error naming them unless
/// they are `null`.
pub fn no_settings(name: &str, settings: &serde_json::Value) -> Result<()> {
    if settings.is_null() {
        return Ok(());
    }
    Err(Error::InvalidSetting {
        field: "data_settings".into(),
        value: settings.to_string(),
        reason: format!("the data set `{name}` takes no settings"),
    })
}

inventory::collect!(DatasetRegistration);

/// All registered data sets, sorted by name.
pub fn registered_datasets() -> Vec<&'static DatasetRegistration> {
    let mut v: Vec<_> = inventory::iter::<DatasetRegistration>.into_iter().collect();
    v.sort_by_key(|r| r.name);
    v.dedup_by_key(|r| r.name);
    v
}

/// The data set `name` with its default settings, or an error listing
/// the known ones.
pub fn dataset_by_name(name: &str, seed: u64) -> Result<Arc<dyn Dataset>> {
    dataset_with_settings(name, seed, &serde_json::Value::Null)
}

/// The data set `name` built with `settings` (a run file's
/// `[data_settings]`; `null`: the defaults).
pub fn dataset_with_settings(
    name: &str,
    seed: u64,
    settings: &serde_json::Value,
) -> Result<Arc<dyn Dataset>> {
    let all = registered_datasets();
    let reg = all
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::InvalidSetting {
            field: "data".into(),
            value: name.into(),
            reason: format!(
                "known data sets: {}",
                all.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
            ),
        })?;
    (reg.build)(seed, settings)
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x` (every seed the
/// library derives goes through it).
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
