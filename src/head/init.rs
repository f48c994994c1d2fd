//! A fresh head, initialised as PyTorch initialises the reference modules:
//! `nn.Embedding` N(0, 1); `nn.Linear` U(±1/√fan_in) for weight and bias;
//! attention `in_proj_weight` Xavier-uniform, its biases and the
//! out-projection bias zero; LayerNorm weight 1, bias 0. Seeded with
//! ChaCha8, so the same seed gives the same head on every machine.

use super::layout::{HeadLayout, Param};
use super::preset::Dims;
use super::weights::{HeadInfo, HeadWeights};
use crate::error::Result;
use crate::meta_loss::check_num_tasks;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A freshly initialised head with widths `dims` and `k` losses.
pub fn init_weights(dims: Dims, k: usize, seed: u64) -> Result<HeadWeights> {
    check_num_tasks(k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let Dims { h1, d, f, .. } = dims;
    let layout = HeadLayout::new(dims, k);
    let mut uniform = |p: Param, bound: f32| -> Vec<f32> {
        (0..layout.range(p).len())
            .map(|_| rng.gen_range(-bound..bound))
            .collect()
    };
    let inv_sqrt = |n: usize| 1.0 / (n as f32).sqrt();
    let xavier = (6.0 / (d + 3 * d) as f32).sqrt();
    let constant = |p: Param, v: f32| vec![v; layout.range(p).len()];
    // Drawn in the order of the flat vector, the task embedding last.
    let mut tensors: Vec<Vec<f32>> = Param::ALL
        .into_iter()
        .map(|p| match p {
            Param::TaskEmbedding => Vec::new(),
            Param::LossFc1Weight | Param::LossFc1Bias => uniform(p, 1.0),
            Param::LossFc2Weight | Param::LossFc2Bias => uniform(p, inv_sqrt(h1)),
            Param::InProjWeight => uniform(p, xavier),
            Param::InProjBias | Param::OutProjBias => constant(p, 0.0),
            Param::OutProjWeight | Param::Linear1Weight | Param::Linear1Bias => {
                uniform(p, inv_sqrt(d))
            }
            Param::Linear2Weight | Param::Linear2Bias => uniform(p, inv_sqrt(f)),
            Param::Norm1Weight | Param::Norm2Weight => constant(p, 1.0),
            Param::Norm1Bias | Param::Norm2Bias => constant(p, 0.0),
            Param::OutputWeight => uniform(p, inv_sqrt(d)),
        })
        .collect();
    tensors[Param::TaskEmbedding.index()] = (0..layout.range(Param::TaskEmbedding).len())
        .map(|_| rng.sample::<f32, _>(rand_distr_normal()))
        .collect();
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
        let emb = a.tensor(Param::TaskEmbedding);
        let mean = emb.iter().sum::<f32>() / emb.len() as f32;
        let var = emb.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / emb.len() as f32;
        assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        let bound = 1.0 / (dims.h1 as f32).sqrt();
        assert!(a
            .tensor(Param::LossFc2Weight)
            .iter()
            .all(|v| v.abs() <= bound));
    }
}
