//! A fresh head, initialised as PyTorch initialises the reference modules:
//! `nn.Embedding` N(0, 1); `nn.Linear` U(±1/√fan_in) for weight and bias;
//! attention `in_proj_weight` Xavier-uniform, its biases and the
//! out-projection bias zero; LayerNorm weight 1, bias 0. Seeded with
//! ChaCha8, so the same seed gives the same head on every machine.

use super::preset::{check_num_tasks, Dims};
use super::weights::{param_shapes, HeadInfo, HeadWeights};
use crate::error::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A freshly initialised head with widths `dims` and `k` losses.
pub fn init_weights(dims: Dims, k: usize, seed: u64) -> Result<HeadWeights> {
    check_num_tasks(k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let Dims { h1, d, f, .. } = dims;
    let shapes = param_shapes(dims, k);
    let mut uniform = |n: usize, bound: f32| -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
    };
    let inv_sqrt = |n: usize| 1.0 / (n as f32).sqrt();
    let xavier = (6.0 / (d + 3 * d) as f32).sqrt();
    let mut tensors: Vec<Vec<f32>> = vec![
        vec![], // task embedding, filled below with normals
        uniform(h1, 1.0),
        uniform(h1, 1.0),
        uniform(d * h1, inv_sqrt(h1)),
        uniform(d, inv_sqrt(h1)),
        uniform(3 * d * d, xavier),
        vec![0.0; 3 * d],
        uniform(d * d, inv_sqrt(d)),
        vec![0.0; d],
        uniform(f * d, inv_sqrt(d)),
        uniform(f, inv_sqrt(d)),
        uniform(d * f, inv_sqrt(f)),
        uniform(d, inv_sqrt(f)),
        vec![1.0; d],
        vec![0.0; d],
        vec![1.0; d],
        vec![0.0; d],
        uniform(d, inv_sqrt(d)),
    ];
    tensors[0] = (0..k * d)
        .map(|_| rng.sample::<f32, _>(rand_distr_normal()))
        .collect();
    debug_assert!(tensors
        .iter()
        .zip(&shapes)
        .all(|(t, s)| t.len() == s.iter().product::<usize>()));
    Ok(HeadWeights {
        dims,
        num_tasks: k,
        tensors,
        info: HeadInfo {
            seed: Some(seed),
            ..HeadInfo::default()
        },
    })
}

/// Standard normal by Box–Muller (rand 0.8 has no normal without rand_distr).
fn rand_distr_normal() -> impl rand::distributions::Distribution<f32> {
    struct Normal;
    impl rand::distributions::Distribution<f32> for Normal {
        fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        }
    }
    Normal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Preset;

    #[test]
    fn same_seed_same_head_and_pytorch_like_statistics() {
        let dims = Preset::Univl.dims();
        let a = init_weights(dims, 5, 7).unwrap();
        assert_eq!(a, init_weights(dims, 5, 7).unwrap());
        assert_ne!(a.tensors, init_weights(dims, 5, 8).unwrap().tensors);
        let emb = &a.tensors[0];
        let mean = emb.iter().sum::<f32>() / emb.len() as f32;
        let var = emb.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / emb.len() as f32;
        assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        let bound = 1.0 / (dims.h1 as f32).sqrt();
        assert!(a.tensors[3].iter().all(|v| v.abs() <= bound));
    }
}
