//! Each fused CPU kernel against the dfdx graph it replaces, forward and
//! backward together, at the built-in backbones' batch-32 shapes; the
//! ratio of the two rows of a pair is the kernel's gain (same process,
//! same inputs).
//!
//! `cargo bench --bench fused`, or without a release build:
//! `cargo test --workspace --bench fused --no-run` then the printed binary
//! with `--bench`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use meltr::dfdx::prelude::*;
use meltr::tensor::fused;
use meltr::tensor::Targets;
use std::sync::Arc;

type Taped = OwnedTape<f32, Cpu>;

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn kernels(c: &mut Criterion) {
    let dev = Cpu::default();
    dev.enable_cache();
    let mut g = c.benchmark_group("fused");

    // Layer norm: the video-text cross encoder's rows at batch 32 (32 · 28
    // rows of 32).
    let (n, d) = (32 * 28, 32);
    let x = dev.tensor_from_vec(values(n * d, 1), (n, d));
    let gm = dev.tensor_from_vec(values(d, 2), (d,));
    let bt = dev.tensor_from_vec(values(d, 3), (d,));
    let id = |k: &str, w: &str| BenchmarkId::new(k, w);
    g.bench_function(id("layer_norm", "fused"), |b| {
        b.iter(|| {
            let y = fused::layer_norm(x.leaky_trace(), gm.retaped::<Taped>(), bt.retaped(), 1e-5);
            y.square().sum::<Rank0, _>().backward()
        })
    });
    g.bench_function(id("layer_norm", "graph"), |b| {
        b.iter(|| {
            let xt: Tensor<_, _, _, Taped> = x.leaky_trace();
            let y = xt.normalize::<Axis<1>>(1e-5) * gm.retaped::<Taped>().broadcast_like(&(n, d))
                + bt.retaped::<Taped>().broadcast_like(&(n, d));
            y.square().sum::<Rank0, _>().backward()
        })
    });

    // Attention scores: 32 sequences of 28, 2 heads.
    let dims = (32, 2, 28, 28);
    let s = dev.tensor_from_vec(values(32 * 2 * 28 * 28, 4), dims);
    g.bench_function(id("scaled_softmax", "fused"), |b| {
        b.iter(|| {
            let y = fused::scaled_softmax(s.leaky_trace(), 0.25);
            y.square().sum::<Rank0, _>().backward()
        })
    });
    g.bench_function(id("scaled_softmax", "graph"), |b| {
        b.iter(|| {
            let st: Tensor<_, _, _, Taped> = s.leaky_trace();
            let y = (st * 0.25).softmax::<Axis<3>>();
            y.square().sum::<Rank0, _>().backward()
        })
    });

    // im2col: 32 images of 8x8, 16 channels, 3x3 taps with padding.
    let (imgs, side, ch) = (32usize, 8isize, 16usize);
    let px = imgs * 64;
    let mut table = Vec::with_capacity(px * 9);
    for i in 0..imgs {
        for y in 0..side {
            for x in 0..side {
                for (ky, kx) in (-1..=1).flat_map(|a| (-1..=1).map(move |b| (a, b))) {
                    let (yy, xx) = (y + ky, x + kx);
                    let inside = (0..side).contains(&yy) && (0..side).contains(&xx);
                    table.push(if inside { i * 64 + (yy * side + xx) as usize } else { px });
                }
            }
        }
    }
    let table: Arc<[usize]> = table.into();
    let idx = dev.tensor_from_vec(table.to_vec(), (table.len(),));
    let xi = dev.tensor_from_vec(values(px * ch, 5), (px, ch));
    g.bench_function(id("im2col", "fused"), |b| {
        b.iter(|| {
            let y = fused::im2col(xi.leaky_trace(), table.clone(), 9);
            y.square().sum::<Rank0, _>().backward()
        })
    });
    g.bench_function(id("im2col", "graph"), |b| {
        b.iter(|| {
            let xt: Tensor<_, _, _, Taped> = xi.leaky_trace();
            let zero: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(1, ch));
            let padded = (xt, zero).concat_along(Axis::<0>);
            let y: Tensor<(usize, usize), f32, Cpu, Taped> = padded.gather(idx.clone());
            let y = y.reshape_like(&(px, 9 * ch));
            y.square().sum::<Rank0, _>().backward()
        })
    });

    // Cross-entropy: a contrastive batch (32 x 32, the diagonal).
    let logits = dev.tensor_from_vec(values(32 * 32, 6), (32, 32));
    let diag: Vec<usize> = (0..32).collect();
    let eye = dev.tensor_from_vec(Targets::Classes(&diag).dense(32, 32), (32, 32));
    g.bench_function(id("cross_entropy", "fused"), |b| {
        b.iter(|| fused::cross_entropy_with_logits(logits.leaky_trace(), Targets::Classes(&diag)).backward())
    });
    g.bench_function(id("cross_entropy", "graph"), |b| {
        b.iter(|| {
            let lt: Tensor<_, _, _, Taped> = logits.leaky_trace();
            cross_entropy_with_logits_loss(lt, eye.clone()).backward()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = kernels
}
criterion_main!(benches);
