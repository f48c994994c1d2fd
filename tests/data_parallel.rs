//! Data parallelism (docs/design.md §7) with ranks as threads: two ranks
//! on half-batches reproduce one process on the full batch, and every
//! rank holds the same parameters.

use meltr::backbone::backbone_from_kind;
use meltr::distributed::{Communicator, LocalGroup};
use meltr::prelude::*;
use meltr::train::{Checkpoint, TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Two tasks whose losses are per-example means with no randomness, so
/// that shards add up to the full batch exactly (up to float rounding):
/// the mean square of the visual features, and of the class logits.
macro_rules! mean_square_task {
    ($ty:ident, $name:literal, $part:ty) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(crate = "meltr::serde")]
        struct $ty {}

        impl Task for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = "data-parallel test task";
            type Needs = ($part,);
            fn loss<T: AnyTape>(&self, net: &dyn Net<T>, b: &Batch, _: u64) -> Result<Loss<T>> {
                Ok(net.part::<$part>(b.visual()?)?.square().mean())
            }
        }
        register_task!($ty);
    };
}
mean_square_task!(Features, "dp_features", VisualFeatures);
mean_square_task!(Logits, "dp_logits", ClassLogits);

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-dp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn trainer(run: &str) -> Trainer {
    let config = TrainConfig::from_toml(run, Path::new("run.toml")).unwrap();
    let model = backbone_from_kind("image_resnet", &serde_json::Value::Null, 0).unwrap();
    Trainer::new(config, model).unwrap()
}

/// A rank that counts the floats it sends through collectives.
struct Counted {
    inner: LocalGroup,
    floats: Arc<AtomicU64>,
}

impl Communicator for Counted {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn all_reduce_sum(&self, values: &mut [f32]) -> meltr::Result<()> {
        self.floats
            .fetch_add(values.len() as u64, Ordering::Relaxed);
        self.inner.all_reduce_sum(values)
    }
    fn broadcast(&self, values: &mut [f32], root: usize) -> meltr::Result<()> {
        self.floats
            .fetch_add(values.len() as u64, Ordering::Relaxed);
        self.inner.broadcast(values, root)
    }
    fn name(&self) -> &str {
        "counted"
    }
}

/// Trains `run` on `ranks` threads; rank 0 writes into `out`. Returns each
/// rank's final backbone and head parameters, and the floats each rank
/// sent through collectives.
fn train(run: &'static str, ranks: usize, out: &Path) -> Vec<(Vec<f32>, Vec<f32>, u64)> {
    LocalGroup::run(ranks, |inner| {
        let floats = Arc::new(AtomicU64::new(0));
        let mut t = trainer(run);
        t.set_communicator(Box::new(Counted {
            inner,
            floats: floats.clone(),
        }));
        t.run(out, |_| {}).unwrap();
        let sent = floats.load(Ordering::Relaxed);
        (
            t.model().params().to_vec(),
            t.head().params().to_vec(),
            sent,
        )
    })
}

fn step_records(out: &Path) -> Vec<(Vec<f64>, Vec<f64>)> {
    let text = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "step")
        .map(|v| (nums(&v["losses"]), nums(&v["weights"])))
        .collect()
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().map(|x| x.abs() as f64).fold(1e-3, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs() / scale)
        .fold(0.0, f64::max)
}

/// The digits run with a MELTR head on the two tasks, 300 steps (30
/// epochs of 10 batches of 10) and 100 meta steps.
const RUN: &str = "preset = \"digits-tiny\"\nepochs = 30\n\
                   tasks = [\"dp_logits\", \"dp_features\"]\nprimary = \"dp_logits\"\n\
                   [meta_loss]\ntype = \"meltr\"\npreset = \"allinone\"\ntasks = 2\n";

#[test]
fn two_ranks_on_half_batches_reproduce_one_process_on_the_full_batch() {
    let (one, two) = (dir("one"), dir("two"));
    let single = train(RUN, 1, &one).remove(0);
    assert_eq!(single.2, 0, "one rank sends nothing");
    let ranks = train(RUN, 2, &two);
    // The ranks agree bit for bit (the run also checks it every epoch).
    assert!(ranks[0] == ranks[1], "the two ranks' parameters differ");
    // What crossed: per backbone step the K losses and the gradient (P),
    // per meta step two gradients and four K-vectors, per epoch a checksum;
    // each buffer carries its shard's weight. Counted against that formula.
    let (p, k, steps, metas, epochs) = (single.0.len() as u64, 2, 300, 100, 30);
    let expected = steps * (k + 1 + p + 1) + metas * (2 * (p + 1) + 2 + 3 * (k + 1)) + epochs * 3;
    println!(
        "sent per rank: {} floats ({:.1} MB) for P = {p}: {:.2} P per backbone step with its share of meta steps",
        ranks[0].2,
        ranks[0].2 as f64 * 4e-6,
        ranks[0].2 as f64 / (steps * p) as f64
    );
    assert_eq!(ranks[0].2, expected);
    let (a, b) = (step_records(&one), step_records(&two));
    assert_eq!(a.len(), 300);
    assert_eq!(a.len(), b.len());
    let mut worst = (0.0f64, 0.0f64);
    for ((la, wa), (lb, wb)) in a.iter().zip(&b) {
        for (x, y) in la.iter().zip(lb) {
            worst.0 = worst.0.max((x - y).abs() / x.abs().max(1e-3));
        }
        for (x, y) in wa.iter().zip(wb) {
            worst.1 = worst.1.max((x - y).abs() / x.abs().max(1e-3));
        }
    }
    let backbone = max_rel_diff(&single.0, &ranks[0].0);
    let head = max_rel_diff(&single.1, &ranks[0].1);
    println!(
        "2 ranks vs 1 process after 300 steps: losses {:.1e}, weights {:.1e}, \
         backbone {backbone:.1e}, head {head:.1e} (max relative difference)",
        worst.0, worst.1
    );
    // f32 sums in another order (shard means, then their weighted mean):
    // about 1e-7 per step, 4e-7 to 7e-7 after 300 steps; held at 1e-5.
    assert!(worst.0 < 1e-5 && worst.1 < 1e-5, "{worst:?}");
    assert!(backbone < 1e-5 && head < 1e-5, "{backbone} {head}");
    // Rank 0 wrote the run's files; they hold its state.
    let ck = Checkpoint::load(&two.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.backbone[0], ranks[0].0);
    assert_eq!(ck.head[0], ranks[0].1);
}
