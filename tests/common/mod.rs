//! Shared test helpers: the reference vectors' weight formula, and two
//! small backbones implementing `InnerModel` (a quadratic with an exact
//! answer, and a tanh MLP mirrored by the JAX hypergradient script).
#![allow(dead_code)]

use meltr::head::{Dims, HeadInfo, HeadLayout, HeadWeights, PARAM_NAMES};

pub mod mlp;
pub mod quadratic;
pub mod ranks;

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
    let tensors = HeadLayout::new(dims, k)
        .shapes()
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

/// Largest relative error of a flat head-sized vector against a reference
/// stored per tensor as {norm, stride, values, probe} (the generators'
/// format). Errors are relative to the tensor's norm, floored at
/// `floor_frac` of the largest tensor norm (blocks that are exactly zero
/// in exact arithmetic hold only round-off).
pub fn head_sized_error(
    flat: &[f32],
    shapes: &[Vec<usize>],
    reference: &serde_json::Value,
    floor_frac: f64,
) -> f64 {
    let max_norm = PARAM_NAMES
        .iter()
        .map(|n| reference[*n]["norm"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let floor = floor_frac * max_norm;
    let mut worst = 0.0f64;
    let mut offset = 0;
    for (t, shape) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let ours = &flat[offset..offset + n];
        offset += n;
        let r = &reference[PARAM_NAMES[t]];
        let stride = r["stride"].as_u64().unwrap() as usize;
        let norm_ref = r["norm"].as_f64().unwrap().max(floor);
        let values: Vec<f64> = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let diff: f64 = (0..n)
            .step_by(stride)
            .zip(&values)
            .map(|(i, v)| (ours[i] as f64 - v).powi(2))
            .sum::<f64>()
            .sqrt();
        let sampled_norm: f64 = values.iter().map(|v| v * v).sum::<f64>().sqrt().max(floor);
        let norm: f64 = ours.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let probe: f64 = ours
            .iter()
            .enumerate()
            .map(|(i, v)| *v as f64 * u(999, t as u64, i as u64))
            .sum();
        let probe_err = (probe - r["probe"].as_f64().unwrap()).abs() / (norm_ref / 3f64.sqrt());
        for e in [
            diff / sampled_norm,
            (norm - r["norm"].as_f64().unwrap()).abs() / norm_ref,
            probe_err,
        ] {
            worst = worst.max(e);
        }
    }
    assert_eq!(offset, flat.len());
    worst
}

/// A JSON array of numbers as `f64`s (the reference files' vectors).
pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
