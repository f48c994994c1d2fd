//! The built-in synthetic video-text world: seeded, no files, same data on
//! every machine.
//!
//! A clip is [`FRAMES`] frames of [`SIDE`]x[`SIDE`] RGB showing one or two
//! described objects (shape, colour, size, motion direction, speed), up to
//! two undescribed grey distractors and pixel noise; its caption comes from
//! a small grammar with synonyms and varied word order over a vocabulary of
//! [`VOCAB_SIZE`] tokens.
//!
//! Splits: an unbounded pretraining stream, and a downstream train
//! ([`TRAIN_SIZE`] pairs), validation ([`VAL_SIZE`]) and test ([`TEST_SIZE`])
//! split. Downstream training never shows the (shape, colour) pairs of
//! [`held_out`]; validation and test do (a compositional shift).
//!
//! ```
//! use meltr::dataset::Split;
//! use meltr::domains::video_text::world::{World, MAX_TOKENS, CLIP_LEN};
//! let world = World::new(7);
//! let test = world.split(Split::Test);
//! assert_eq!(test.len(), 1000);
//! assert_eq!(test[0], World::new(7).example(Split::Test, 0));
//! let batch = world.pretrain_batch(0, 32);
//! assert_eq!(batch.text.unwrap().tokens.len(), 32 * MAX_TOKENS);
//! assert_eq!(batch.visual.unwrap().pixels.len(), 32 * CLIP_LEN);
//! ```

mod caption;
mod render;
mod scene;
mod vocab;

pub use caption::caption;
pub use render::{render, CHANNELS, CLIP_LEN, FRAMES, FRAME_LEN, NOISE, SIDE};
pub use scene::{
    held_out, sample_scene, Colour, Direction, Distractor, Object, Scene, Shape, Size, Speed,
    COLOURS, DIRECTIONS, SHAPES,
};
pub use vocab::{token_id, tokenize, MASK, MAX_TOKENS, PAD, UNK, VOCAB_SIZE, WORDS};

use crate::backbone::{Batch, Text, Visual};
use crate::dataset::{mix64, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Pairs in the downstream training split.
pub const TRAIN_SIZE: usize = 512;
/// Pairs in the validation split.
pub const VAL_SIZE: usize = 256;
/// Pairs in the test split.
pub const TEST_SIZE: usize = 1000;

fn split_len(split: Split) -> Option<usize> {
    match split {
        Split::Pretrain => None,
        Split::Train => Some(TRAIN_SIZE),
        Split::Val => Some(VAL_SIZE),
        Split::Test => Some(TEST_SIZE),
    }
}

fn split_tag(split: Split) -> u64 {
    match split {
        Split::Pretrain => 0x5052_4554,
        Split::Train => 0x5452_4149,
        Split::Val => 0x5641_4c5f,
        Split::Test => 0x5445_5354,
    }
}

/// One video-text pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// The caption as text.
    pub caption: String,
    /// The caption as [`MAX_TOKENS`] token ids, padded with [`PAD`].
    pub tokens: Vec<usize>,
    /// [`CLIP_LEN`] pixel values, `[frame][channel][row][column]`.
    pub frames: Vec<f32>,
    /// What the clip shows.
    pub scene: Scene,
}

/// Stacks examples into a batch: clips and captions.
pub fn batch_of<'a>(examples: impl IntoIterator<Item = &'a Example>) -> Batch {
    let (mut tokens, mut pixels, mut size) = (vec![], vec![], 0);
    for e in examples {
        tokens.extend_from_slice(&e.tokens);
        pixels.extend_from_slice(&e.frames);
        size += 1;
    }
    Batch {
        size,
        visual: Some(Visual {
            pixels,
            frames: FRAMES,
            channels: CHANNELS,
            height: SIDE,
            width: SIDE,
        }),
        text: Some(Text {
            tokens,
            len: MAX_TOKENS,
            vocab: VOCAB_SIZE,
            pad: PAD,
            mask: MASK,
        }),
        labels: None,
        ..Default::default()
    }
}

/// The world: every example is a pure function of `(seed, split, index)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    seed: u64,
}

impl World {
    /// The world of `seed`.
    pub fn new(seed: u64) -> World {
        World { seed }
    }

    /// Its seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Example `index` of `split` (any index for the pretraining stream).
    pub fn example(&self, split: Split, index: u64) -> Example {
        let key = mix64(mix64(self.seed ^ split_tag(split)) ^ index);
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        let scene = sample_scene(&mut rng, SIDE, FRAMES, split != Split::Train);
        let caption = caption(&mut rng, &scene.objects);
        let frames = render(&scene, &mut rng);
        Example {
            tokens: tokenize(&caption),
            caption,
            frames,
            scene,
        }
    }

    /// All examples of a finite split (empty for [`Split::Pretrain`]).
    pub fn split(&self, split: Split) -> Vec<Example> {
        (0..split_len(split).unwrap_or(0) as u64)
            .map(|i| self.example(split, i))
            .collect()
    }

    /// Pretraining batch number `step`: stream examples `step*size .. (step+1)*size`.
    pub fn pretrain_batch(&self, step: u64, size: usize) -> Batch {
        let start = step * size as u64;
        let examples: Vec<Example> = (start..start + size as u64)
            .map(|i| self.example(Split::Pretrain, i))
            .collect();
        batch_of(&examples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_fit_and_use_known_words() {
        let w = World::new(3);
        for i in 0..500 {
            let e = w.example(Split::Pretrain, i);
            let words = e.caption.split_whitespace().count();
            assert!(words <= MAX_TOKENS, "{} words: {}", words, e.caption);
            assert!(!e.tokens.contains(&UNK), "unknown word in {}", e.caption);
            assert!(e.frames.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn downstream_train_has_no_held_out_pair_but_test_does() {
        let w = World::new(1);
        let has = |e: &Example| e.scene.objects.iter().any(|o| held_out(o.shape, o.colour));
        assert!(!w.split(Split::Train).iter().any(has));
        let n = w.split(Split::Test).iter().filter(|e| has(e)).count();
        assert!(n > 100, "only {n} test clips show a held-out pair");
    }

    #[test]
    fn different_seeds_and_splits_differ() {
        let a = World::new(1).example(Split::Val, 5);
        assert_ne!(a, World::new(2).example(Split::Val, 5));
        assert_ne!(a, World::new(1).example(Split::Test, 5));
    }
}
