//! The contract every task crate tests: [`check_task`] (cargo feature
//! `testing`, which a task crate enables in its dev-dependencies).

use crate::aux_task::{build_task, find_task, Task, TaskSet, TaskSpec};
use crate::backbone::{backbone_from_kind, Backbone, Batch};
use crate::dataset::{mix64, registered_datasets, Dataset, Split};
use crate::distributed::{shard_range, Communicator, LocalGroup, Shard, SingleProcess};
use crate::meta_loss::Sum;
use crate::tensor::ParamVec;
use crate::tensor::{Adam, AdamConfig};
use crate::train::backbone_step;

/// For each parameter block of the parts the task needs (the whole vector
/// for a task that names no part up front, or on a backbone that names no
/// blocks, `Backbone::probe_blocks`): its gradient block is non-zero,
/// and the central difference of the loss along that block (`v = g_B`, best
/// of steps `{1e-2, 1e-3, 1e-4}·‖w‖/‖v‖`) matches `‖g_B‖²` to 5 %.
fn check_gradient(set: &TaskSet, model: &dyn Backbone, batch: &Batch, g: &ParamVec, on: &str) {
    let name = set.names()[0].clone();
    let w = model.params();
    let gv = g.to_vec();
    // (what the block is for, its name, offset and length)
    let mut blocks: Vec<(String, String, usize, usize)> = vec![];
    for c in set.tasks()[0].needs() {
        for b in model.probe_blocks(c) {
            let p = model.layout().get(b).expect("probe block exists");
            blocks.push((c.to_string(), b.to_string(), p.offset, p.block.len()));
        }
    }
    if blocks.is_empty() {
        blocks.push(("the loss".into(), "all parameters".into(), 0, gv.len()));
    }
    for (c, block, offset, len) in blocks {
        let mut v = vec![0.0f32; gv.len()];
        v[offset..offset + len].copy_from_slice(&gv[offset..offset + len]);
        let v = ParamVec::from_vec(w.tensor().device(), v);
        let exact = v.dot(&v);
        assert!(
            exact > 0.0,
            "{name} on {on}: no gradient reaches {block} (needed for {c})"
        );
        // The best of three steps: f32 round-off spoils small steps,
        // curvature large ones; a wrong gradient disagrees at every step.
        let (fd, rel) = [1e-2f32, 1e-3, 1e-4]
            .into_iter()
            .map(|k| {
                let eps = k * w.norm() / v.norm();
                let up = set
                    .losses_at(model, &w.add_scaled(eps, &v), batch, 42)
                    .unwrap()[0] as f64;
                let down = set
                    .losses_at(model, &w.add_scaled(-eps, &v), batch, 42)
                    .unwrap()[0] as f64;
                let fd = (up - down) / (2.0 * eps as f64);
                (fd, (fd - exact as f64).abs() / exact as f64)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("three steps");
        assert!(
            rel < 0.05,
            "{name} on {on}: along {block}: central difference {fd}, gradient says {exact} ({rel:.3} rel)"
        );
    }
}

/// `batch` split over `ranks` threads, each rank computing the task's loss
/// and gradient on its shard: their means weighted by the shards' sizes
/// (what the trainer takes) equal the whole batch's `(loss, gradient)` —
/// the value to 1e-6 and the gradient to 1e-4 of its norm. Whatever the
/// task couples (negatives, partners, a mean over masked terms) must come
/// out the same; a wrong share is off by percents. (The gradient's bound
/// is rounding: the matrix kernels round a row differently in batches of
/// other sizes, and a loss that cancels magnifies it, e.g. 3e-5 for the
/// own-model example's `consistency`.) With `keep_whole` each rank keeps
/// the whole batch's inputs, as the trainer's shards do; without, it holds
/// its rows alone and the task gathers what it reads of the others'.
fn check_shards(
    set: &TaskSet,
    model: &dyn Backbone,
    batch: &Batch,
    on: &str,
    (ranks, keep_whole): (usize, bool),
    whole: (f32, &ParamVec),
) {
    let name = set.names()[0].clone();
    let (kind, config, w) = (model.kind(), model.config(), model.params().to_vec());
    // The inputs alone cross to the threads (a batch's shard is not `Sync`).
    let batch_size = batch.size;
    let inputs = (
        batch.visual.clone(),
        batch.text.clone(),
        batch.labels.clone(),
    );
    let shards = LocalGroup::run(ranks, |c| {
        let mine = shard_range(batch_size, c.rank(), ranks);
        let (visual, text, labels) = inputs.clone();
        let whole = Batch {
            size: batch_size,
            visual,
            text,
            labels,
            ..Batch::default()
        };
        let local = if keep_whole {
            whole.into_shard(std::sync::Arc::new(c))
        } else {
            let mut local = whole.rows(mine.clone());
            local.shard = Shard::of(std::sync::Arc::new(c), batch_size);
            local
        };
        let model = backbone_from_kind(kind, &config, 0).expect("same kind");
        let w = ParamVec::from_vec(model.params().tensor().device(), w.clone());
        let free = set.losses_at(&*model, &w, &local, 42).map(|l| l[0]);
        let taped = set.forward_taped(&*model, &w, &local, 42);
        let taped = taped.and_then(|t| Ok((t.values()[0], t.backward(&[1.0])?.to_vec())));
        (mine.len() as f64, free, taped)
    });
    let (mut value, mut free, mut grad) = (0.0f64, 0.0f64, vec![0.0f64; w.len()]);
    for (r, (n, f, t)) in shards.into_iter().enumerate() {
        let f = f.unwrap_or_else(|e| panic!("{name} on {on}, rank {r} of {ranks}: {e}"));
        let (v, g) = t.unwrap_or_else(|e| panic!("{name} on {on}, rank {r} of {ranks}: {e}"));
        free += n * f as f64 / batch.size as f64;
        value += n * v as f64 / batch.size as f64;
        for (s, x) in grad.iter_mut().zip(g) {
            *s += n * x as f64 / batch.size as f64;
        }
    }
    let (loss, g) = (whole.0 as f64, whole.1.to_vec());
    for (what, v) in [("tape-free loss", free), ("taped loss", value)] {
        let rel = (v - loss).abs() / loss.abs().max(1e-3);
        assert!(
            rel < 1e-6,
            "{name} on {on}: {what} over {ranks} shards {v} vs {loss} on the whole batch ({rel:.1e} rel)"
        );
    }
    let norm = g.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let diff = g
        .iter()
        .zip(&grad)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum::<f64>()
        .sqrt();
    eprintln!(
        "{name} on {on}: over {ranks} shards, loss {:.1e} and gradient {:.1e} from the whole batch's",
        (free - loss).abs() / loss.abs().max(1e-3),
        diff / norm
    );
    assert!(
        diff < 1e-4 * norm,
        "{name} on {on}: gradient over {ranks} shards differs from the whole batch's by {:.1e} of its norm",
        diff / norm
    );
}

/// Steps of the contract's training run.
const STEPS: usize = 200;

/// Training batch `t` for the task — from the pretraining stream when the
/// task runs on it, else from the labelled training split (cycled) — and a
/// held-out batch from the same kind of source. Batches are made as they
/// are asked for.
fn sources<'a>(
    set: &TaskSet,
    model: &dyn Backbone,
    data: &'a dyn Dataset,
) -> (Box<dyn Fn(usize) -> Batch + 'a>, Batch) {
    const B: usize = 16;
    let stream = set
        .losses_at(model, model.params(), &data.pretrain_batch(0, B), 42)
        .is_ok();
    if stream {
        let train = move |t: usize| data.pretrain_batch(t as u64, B);
        (Box::new(train), data.pretrain_batch(u64::MAX / 2 / 64, 64))
    } else {
        let n = data.len(Split::Train);
        let train = move |t: usize| {
            let idx: Vec<usize> = (0..B).map(|i| (t * B + i) % n).collect();
            data.batch(Split::Train, &idx)
        };
        let m = data.len(Split::Val).min(64);
        (
            Box::new(train),
            data.batch(Split::Val, &(0..m).collect::<Vec<_>>()),
        )
    }
}

/// Checks task `T` with its default settings against the contract,
/// panicking with a message on failure:
///
/// * it is registered under its name, builds from an empty table, refuses
///   an unknown field naming it, and survives a run-file round trip as
///   a table (`{ type = "name" }`) with the same loss;
/// * on every built-in data set whose backbone has the parts it needs
///   (at least one must): its loss is finite, its tape-free value equals
///   its taped value, the same seed gives the same loss, and its gradient
///   is finite and non-zero;
/// * there, the batch split over 2 ranks (threads) keeping the whole
///   batch's inputs, and over 3 ranks holding their rows alone, gives the
///   whole batch's loss and gradient, as the trainer combines the shards';
/// * there, the gradient reaches every parameter block the backbone names
///   for the parts the task needs, and agrees with a central difference of
///   the loss;
/// * there, 200 steps of the task alone (batch 16, Adam lr 2e-3, on the
///   pretraining stream, or the labelled training split for a task that
///   needs labels) bring its held-out loss below `ratio` times its
///   initial value.
pub fn check_task<T: Task>(ratio: f32) {
    let name = T::NAME;
    let reg = find_task(name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.name, name);
    let empty = toml::Table::new();
    let task = (reg.build)(&empty).unwrap_or_else(|e| panic!("{name}: default config: {e}"));
    assert_eq!(task.name(), name, "registered name differs from Task::NAME");
    let mut bad = toml::Table::new();
    bad.insert("no_such_field".into(), toml::Value::Integer(1));
    let err = build_task(name, &bad)
        .expect_err("an unknown field must be refused")
        .to_string();
    assert!(err.contains("no_such_field") && err.contains(name), "{err}");

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Run {
        tasks: Vec<TaskSpec>,
    }
    let mut table = toml::Table::new();
    table.insert("type".into(), toml::Value::String(name.into()));
    let text = format!("tasks = [{}]", toml::Value::Table(table));
    let set = TaskSet::new(vec![task]);
    let mut served = 0;
    for d in registered_datasets() {
        let data = (d.build)(1, &serde_json::Value::Null)
            .unwrap_or_else(|e| panic!("data set {}: {e}", d.name));
        let model = backbone_from_kind(data.backbone_kind(), &serde_json::Value::Null, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        if set.check_served(&*model).is_err() {
            continue;
        }
        served += 1;
        let run: Run = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let back = TaskSet::from_specs(&run.tasks).unwrap_or_else(|e| panic!("{e}\n{text}"));
        check_on(&set, model, &*data, d.name, ratio, back);
    }
    assert!(
        served > 0,
        "{name}: no built-in backbone has the parts it needs ({:?})",
        set.tasks()[0].needs()
    );
}

fn check_on(
    set: &TaskSet,
    model: Box<dyn Backbone>,
    data: &dyn Dataset,
    on: &str,
    ratio: f32,
    back: TaskSet,
) {
    let name = set.names()[0].clone();
    let (train, held_out) = sources(set, &*model, data);
    let batch = &train(3);
    let w = model.params().clone();
    let free = set.losses_at(&*model, &w, batch, 42).unwrap()[0];
    assert!(free.is_finite(), "{name} on {on}: loss {free}");
    assert_eq!(
        set.losses_at(&*model, &w, batch, 42).unwrap()[0],
        free,
        "{name} on {on}: same seed, different loss"
    );
    let again = back.losses_at(&*model, &w, batch, 42).unwrap()[0];
    assert_eq!(again, free, "{name}: run-file round trip changed the loss");
    let taped = set.forward_taped(&*model, &w, batch, 42).unwrap();
    let tv = taped.values()[0];
    assert!(
        (tv - free).abs() <= 1e-5 * free.abs().max(1.0),
        "{name} on {on}: taped {tv} vs free {free}"
    );
    let g = taped.backward(&[1.0]).unwrap();
    assert!(
        g.is_finite() && g.norm() > 0.0,
        "{name} on {on}: gradient norm {}",
        g.norm()
    );
    check_gradient(set, &*model, batch, &g, on);
    for ranks in [(2, true), (3, false)] {
        check_shards(set, &*model, batch, on, ranks, (free, &g));
    }

    // Trained from a fresh backbone, seeded as pretraining seeds it.
    let mut model = backbone_from_kind(model.kind(), &model.config(), 0).unwrap();
    let eval_seed = mix64(0xE7A1);
    let start = std::time::Instant::now();
    let w = model.params().clone();
    let before = set.losses_at(&*model, &w, &held_out, eval_seed).unwrap()[0];
    let cfg = AdamConfig {
        lr: 2e-3,
        ..Default::default()
    };
    let mut adam = Adam::new(cfg, model.params());
    for t in 0..STEPS {
        let seed = mix64(mix64(t as u64));
        backbone_step(
            set,
            &mut *model,
            &mut adam,
            &Sum {},
            &train(t),
            seed,
            &SingleProcess,
        )
        .unwrap_or_else(|e| panic!("{name} on {on}: {e}"));
    }
    let after = set
        .losses_at(&*model, &model.params().clone(), &held_out, eval_seed)
        .unwrap()[0];
    eprintln!(
        "{name} on {on}: held-out loss {before:.4} -> {after:.4} in {STEPS} steps ({:.2} s)",
        start.elapsed().as_secs_f64()
    );
    assert!(
        after < ratio * before,
        "{name} on {on}: held-out loss {before} -> {after}, wanted below {ratio} x"
    );
}
