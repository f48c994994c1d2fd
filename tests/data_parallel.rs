//! Data parallelism (docs/design.md §7) with ranks as threads: two ranks
//! on half-batches reproduce one process on the full batch, and every
//! rank holds the same parameters; the messages are counted. The built-in
//! tasks' equivalence is `cli/tests/data_parallel_tasks.rs`.

use crate::common;

use common::ranks::{max_rel_diff, step_records, train_on_ranks, Trained};
use meltr::distributed::{Communicator, LocalGroup};
use meltr::prelude::*;
use meltr::train::Checkpoint;
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

/// Trains `run` on `ranks` counting threads; rank 0 writes into `out`.
/// Each rank's final parameters and the floats it sent through collectives.
fn train(run: &str, ranks: usize, out: &Path) -> Vec<(Trained, u64)> {
    let sent: Vec<Arc<AtomicU64>> = (0..ranks).map(|_| Arc::default()).collect();
    let trained = train_on_ranks(run, ranks, out, |inner| Counted {
        floats: sent[inner.rank()].clone(),
        inner,
    });
    trained
        .into_iter()
        .zip(&sent)
        .map(|(t, n)| (t, n.load(Ordering::Relaxed)))
        .collect()
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
    assert_eq!(single.1, 0, "one rank sends nothing");
    let ranks = train(RUN, 2, &two);
    // The ranks agree bit for bit (the run also checks it every epoch).
    assert!(ranks[0].0 == ranks[1].0, "the two ranks' parameters differ");
    // What crossed: per backbone step the K losses and the gradient (P),
    // per meta step two gradients and four K-vectors, per epoch a checksum;
    // each buffer carries its shard's weight. Counted against that formula.
    let (p, k, steps, metas, epochs) = (single.0.backbone.len() as u64, 2, 300, 100, 30);
    let expected = steps * (k + 1 + p + 1) + metas * (2 * (p + 1) + 2 + 3 * (k + 1)) + epochs * 3;
    println!(
        "sent per rank: {} floats ({:.1} MB) for P = {p}: {:.2} P per backbone step with its share of meta steps",
        ranks[0].1,
        ranks[0].1 as f64 * 4e-6,
        ranks[0].1 as f64 / (steps * p) as f64
    );
    assert_eq!(ranks[0].1, expected);
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
    let backbone = max_rel_diff(&single.0.backbone, &ranks[0].0.backbone);
    let head = max_rel_diff(&single.0.head, &ranks[0].0.head);
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
    assert_eq!(ck.backbone[0], ranks[0].0.backbone);
    assert_eq!(ck.head[0], ranks[0].0.head);
}
