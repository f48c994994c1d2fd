//! Shared test helpers: the reference vectors' weight formula, and two
//! small backbones implementing `InnerModel` (a quadratic with an exact
//! answer, and a tanh MLP mirrored by the JAX hypergradient script).
#![allow(dead_code)]

use meltr::meltr::{param_shapes, Dims, HeadInfo, HeadWeights, PARAM_NAMES};

pub mod mlp;
pub mod quadratic;

pub fn splitmix64(x: u64) -> u64 {
    let x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn u(seed: u64, t: u64, i: u64) -> f64 {
    let x = seed
        .wrapping_mul(1_000_003)
        .wrapping_add(t.wrapping_mul(65_537))
        .wrapping_add(i);
    (splitmix64(x) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// (offset, scale) of each tensor, as in the generating script.
fn offset_scale(t: usize, dims: Dims) -> (f64, f64) {
    let inv = |n: usize| 1.0 / (n as f64).sqrt();
    match PARAM_NAMES[t] {
        "task_embedding.weight" | "loss_fc1.weight" => (0.0, 1.0),
        "loss_fc1.bias" => (0.0, 0.5),
        "loss_fc2.weight" => (0.0, inv(dims.h1)),
        "encoder.self_attn.in_proj_weight"
        | "encoder.self_attn.out_proj.weight"
        | "encoder.linear1.weight"
        | "fc1.weight" => (0.0, inv(dims.d)),
        "encoder.linear2.weight" => (0.0, inv(dims.f)),
        "encoder.norm1.weight" | "encoder.norm2.weight" => (1.0, 0.2),
        _ => (0.0, 0.1), // every other bias
    }
}

pub fn formula_weights(dims: Dims, k: usize, seed: u64) -> HeadWeights {
    let tensors = param_shapes(dims, k)
        .iter()
        .enumerate()
        .map(|(t, shape)| {
            let (off, scale) = offset_scale(t, dims);
            let n: usize = shape.iter().product();
            (0..n)
                .map(|i| (off + scale * u(seed, t as u64, i as u64)) as f32)
                .collect()
        })
        .collect();
    HeadWeights {
        dims,
        num_tasks: k,
        tensors,
        info: HeadInfo::default(),
    }
}

