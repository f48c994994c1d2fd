//! The dropout masks of one forward pass, drawn once for every engine.

use super::preset::HEADS;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Dropout masks of one forward pass as host values, row-major.
pub(crate) struct MaskValues {
    /// Attention probabilities, `HEADS × K × K`.
    pub attn: Vec<f32>,
    /// The attention block's output, `K × d`.
    pub attn_out: Vec<f32>,
    /// The feed-forward hidden layer, `K × f`.
    pub ff_hidden: Vec<f32>,
    /// The feed-forward output, `K × d`.
    pub ff_out: Vec<f32>,
}

/// The masks PyTorch's encoder layer applies in training mode (attention
/// probabilities, the attention block's output, the feed-forward hidden
/// layer and output), already scaled by `1/(1-p)`, drawn from `seed` in
/// that order: both head engines draw the same masks.
pub(crate) fn sample_masks(k: usize, d: usize, f: usize, p: f32, seed: u64) -> MaskValues {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keep = 1.0 / (1.0 - p);
    let mut draw = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| if rng.gen::<f32>() < p { 0.0 } else { keep })
            .collect()
    };
    MaskValues {
        attn: draw(HEADS * k * k),
        attn_out: draw(k * d),
        ff_hidden: draw(k * f),
        ff_out: draw(k * d),
    }
}
