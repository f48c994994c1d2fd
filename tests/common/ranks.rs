//! A training run on ranks that are threads of this process
//! ([`LocalGroup`]), and what its log says, for the data-parallel
//! equivalence tests.
#![allow(dead_code)]

use meltr::distributed::{Communicator, LocalGroup};
use meltr::train::{starting_backbone, TrainConfig, Trainer};
use std::path::Path;

/// A rank's parameters at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    pub backbone: Vec<f32>,
    pub head: Vec<f32>,
}

/// Trains run file `run` on `ranks` threads, each rank's transport made by
/// `wrap` from its [`LocalGroup`]; rank 0 writes into `out`. Every rank's
/// final parameters, in rank order.
pub fn train_on_ranks<C: Communicator + 'static>(
    run: &str,
    ranks: usize,
    out: &Path,
    wrap: impl Fn(LocalGroup) -> C + Sync,
) -> Vec<Trained> {
    let _ = std::fs::remove_dir_all(out);
    LocalGroup::run(ranks, |group| {
        let config = TrainConfig::from_toml(run, Path::new("run.toml")).unwrap();
        let model = starting_backbone(&config).unwrap();
        let mut t = Trainer::new(config, model).unwrap();
        t.set_communicator(Box::new(wrap(group)));
        t.run(out, |_| {}).unwrap();
        Trained {
            backbone: t.model().params().to_vec(),
            head: t.head().params().to_vec(),
        }
    })
}

/// The first record of `kind` (`step`, `meta`...) in a run's `log.jsonl`.
pub fn first_record(out: &Path, kind: &str) -> serde_json::Value {
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    log.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} record in {}", out.display()))
}

/// The numbers of a JSON array.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Each step's logged task losses and weights, from a run's `log.jsonl`.
pub fn step_records(out: &Path) -> Vec<(Vec<f64>, Vec<f64>)> {
    let text = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "step")
        .map(|v| (numbers(&v["losses"]), numbers(&v["weights"])))
        .collect()
}

/// The largest difference between `a` and `b`, relative to `a`'s largest
/// magnitude (at least 1e-3).
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().map(|x| x.abs() as f64).fold(1e-3, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs() / scale)
        .fold(0.0, f64::max)
}
