//! Each fused CPU kernel against the dfdx graph it replaces, forward and
//! backward together, at the built-in backbones' batch-32 shapes, in one
//! process on the same inputs: the two alternate in rounds, and each
//! side's fastest round is kept (a shared machine slows rounds, never
//! speeds them up), so the printed ratio is the kernel's gain.
//!
//! `cargo bench -p meltr-benches --bench fused`, or without a release build:
//! `cargo test -p meltr-benches --bench fused --no-run` then run the printed
//! binary (`--rounds N`, default 15).

#![cfg_attr(feature = "cuda", allow(unused))]

use meltr::dfdx::prelude::*;
#[cfg(not(feature = "cuda"))]
use meltr::tensor::fused;
use meltr::tensor::Targets;
use std::sync::Arc;
use std::time::Instant;

type Taped = OwnedTape<f32, Cpu>;

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

/// Fastest round of `reps` calls of each side, alternating, per call.
struct Pair {
    rounds: usize,
}

impl Pair {
    fn time(&self, name: &str, mut fused: impl FnMut(), mut graph: impl FnMut()) {
        // Enough calls per round for ~20 ms of the slower side.
        let t0 = Instant::now();
        graph();
        fused();
        let reps = (0.02 / t0.elapsed().as_secs_f64()).clamp(1.0, 10_000.0) as usize;
        let (mut best_f, mut best_g) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..self.rounds {
            let t = Instant::now();
            (0..reps).for_each(|_| fused());
            best_f = best_f.min(t.elapsed().as_secs_f64() / reps as f64);
            let t = Instant::now();
            (0..reps).for_each(|_| graph());
            best_g = best_g.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        println!(
            "{name:<16} fused {:>9.1} µs   dfdx graph {:>9.1} µs   graph / fused {:>5.2}x",
            best_f * 1e6,
            best_g * 1e6,
            best_g / best_f
        );
    }
}

fn main() {
    let rounds = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(15);
    kernels(&Pair { rounds });
}

/// The fused kernels are the CPU build's: under `cuda` there is nothing to time.
#[cfg(feature = "cuda")]
fn kernels(_: &Pair) {}

#[cfg(not(feature = "cuda"))]
fn kernels(p: &Pair) {
    let dev = Cpu::default();
    dev.enable_cache();

    // Layer norm: the video-text cross encoder's rows at batch 32 (32 · 28
    // rows of 32).
    let (n, d) = (32 * 28, 32);
    let x = dev.tensor_from_vec(values(n * d, 1), (n, d));
    let gm = dev.tensor_from_vec(values(d, 2), (d,));
    let bt = dev.tensor_from_vec(values(d, 3), (d,));
    p.time(
        "layer_norm",
        || {
            let y = fused::layer_norm(x.leaky_trace(), gm.retaped::<Taped>(), bt.retaped(), 1e-5);
            y.square().sum::<Rank0, _>().backward();
        },
        || {
            let xt: Tensor<_, _, _, Taped> = x.leaky_trace();
            let y = xt.normalize::<Axis<1>>(1e-5)
                * gm.retaped::<Taped>().broadcast_like::<_, Axis<0>>(&(n, d))
                + bt.retaped::<Taped>().broadcast_like::<_, Axis<0>>(&(n, d));
            y.square().sum::<Rank0, _>().backward();
        },
    );

    // Bias add: a linear layer's output rows (the same rows, 32 wide).
    p.time(
        "add_bias",
        || {
            let y = fused::add_bias(x.leaky_trace(), gm.retaped::<Taped>());
            y.square().sum::<Rank0, _>().backward();
        },
        || {
            let xt: Tensor<_, _, _, Taped> = x.leaky_trace();
            let y = xt + gm.retaped::<Taped>().broadcast_like::<_, Axis<0>>(&(n, d));
            y.square().sum::<Rank0, _>().backward();
        },
    );

    // Attention scores: 32 sequences of 28, 2 heads.
    let dims = (32, 2, 28, 28);
    let s = dev.tensor_from_vec(values(32 * 2 * 28 * 28, 4), dims);
    p.time(
        "scaled_softmax",
        || {
            let y = fused::scaled_softmax(s.leaky_trace(), 0.25);
            y.square().sum::<Rank0, _>().backward();
        },
        || {
            let st: Tensor<_, _, _, Taped> = s.leaky_trace();
            let y = (st * 0.25).softmax::<Axis<3>>();
            y.square().sum::<Rank0, _>().backward();
        },
    );

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
                    table.push(if inside {
                        i * 64 + (yy * side + xx) as usize
                    } else {
                        px
                    });
                }
            }
        }
    }
    let table: Arc<[usize]> = table.into();
    let idx = dev.tensor_from_vec(table.to_vec(), (table.len(),));
    let xi = dev.tensor_from_vec(values(px * ch, 5), (px, ch));
    p.time(
        "im2col",
        || {
            let y = fused::im2col(xi.leaky_trace(), table.clone(), 9);
            y.square().sum::<Rank0, _>().backward();
        },
        || {
            let xt: Tensor<_, _, _, Taped> = xi.leaky_trace();
            let zero: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(1, ch));
            let padded = (xt, zero).concat_along(Axis::<0>);
            let y: Tensor<(usize, usize), f32, Cpu, Taped> = padded.gather(idx.clone());
            let y = y.reshape_like(&(px, 9 * ch));
            y.square().sum::<Rank0, _>().backward();
        },
    );

    // A 3x3 convolution as one op against the two it replaces (the fused
    // im2col, then dfdx's matmul): batch 32 at width 16, batch 128 at 64.
    for (imgs, ch, name) in [(32usize, 16usize, "conv 32x16"), (128, 64, "conv 128x64")] {
        let px = imgs * 64;
        let table: Arc<[usize]> = meltr::domains::digits::im2col_rows(imgs).into();
        let xc = dev.tensor_from_vec(values(px * ch, 7), (px, ch));
        let wc = dev.tensor_from_vec(values(ch * 9 * ch, 8), (ch, 9 * ch));
        p.time(
            name,
            || {
                let y = fused::im2col_matmul(xc.leaky_trace(), table.clone(), 9, wc.leaky_trace());
                y.square().sum::<Rank0, _>().backward();
            },
            || {
                let cols = fused::im2col(xc.leaky_trace(), table.clone(), 9);
                let y = cols.matmul(wc.leaky_trace().permute());
                y.square().sum::<Rank0, _>().backward();
            },
        );
    }

    // Cross-entropy: a contrastive batch (32 x 32, the diagonal).
    let logits = dev.tensor_from_vec(values(32 * 32, 6), (32, 32));
    let diag: Vec<usize> = (0..32).collect();
    let eye = dev.tensor_from_vec(Targets::Classes(&diag).dense(32, 32), (32, 32));
    p.time(
        "cross_entropy",
        || {
            fused::cross_entropy_with_logits(logits.leaky_trace(), Targets::Classes(&diag))
                .backward();
        },
        || {
            let lt: Tensor<_, _, _, Taped> = logits.leaky_trace();
            cross_entropy_with_logits_loss(lt, eye.clone()).backward();
        },
    );
}
