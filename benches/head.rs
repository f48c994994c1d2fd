//! Forward, forward+backward and head-term cost of each preset's head.
//!
//! `cargo bench -p meltr-benches --bench head` (K = the reference code's K for each preset).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use meltr::head::{Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use std::hint::black_box;

fn heads(c: &mut Criterion) {
    let mut g = c.benchmark_group("head");
    for (preset, k) in [
        (Preset::Allinone, 2),
        (Preset::Violet, 3),
        (Preset::Univl, 8),
        (Preset::Paper, 8),
    ] {
        let head = Meltr::init(preset, k, 0).unwrap();
        let l: Vec<f32> = (0..k).map(|i| 0.3 + i as f32).collect();
        let dir: Vec<f32> = (0..k).map(|i| 1.0 - 0.2 * i as f32).collect();
        let id = |what: &str| BenchmarkId::new(what, format!("{}-k{k}", preset.name()));
        g.bench_function(id("forward"), |b| {
            b.iter(|| head.value(black_box(&l)).unwrap())
        });
        g.bench_function(id("forward+backward"), |b| {
            b.iter(|| head.eval(black_box(&l)).unwrap())
        });
        g.bench_function(id("head-term"), |b| {
            b.iter(|| head.mixed_grad(black_box(&l), black_box(&dir)).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = heads
}
criterion_main!(benches);
