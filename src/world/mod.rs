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
//! use meltr::world::{Split, World, MAX_TOKENS, CLIP_LEN};
//! let world = World::new(7);
//! let test = world.split(Split::Test);
//! assert_eq!(test.len(), 1000);
//! assert_eq!(test[0], World::new(7).example(Split::Test, 0));
//! let batch = world.pretrain_batch(0, 32);
//! assert_eq!(batch.tokens.len(), 32 * MAX_TOKENS);
//! assert_eq!(batch.frames.len(), 32 * CLIP_LEN);
//! ```

mod caption;
mod render;
mod scene;
mod vocab;

pub use caption::caption;
pub use render::{render, rotate_clip, CHANNELS, CLIP_LEN, FRAMES, FRAME_LEN, NOISE, SIDE};
pub use scene::{
    held_out, sample_scene, Colour, Direction, Distractor, Object, Scene, Shape, Size, Speed,
    COLOURS, DIRECTIONS, SHAPES,
};
pub use vocab::{token_id, tokenize, MASK, MAX_TOKENS, PAD, UNK, VOCAB_SIZE, WORDS};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Pairs in the downstream training split.
pub const TRAIN_SIZE: usize = 512;
/// Pairs in the validation split.
pub const VAL_SIZE: usize = 256;
/// Pairs in the test split.
pub const TEST_SIZE: usize = 1000;

/// Where an example comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The unbounded pretraining stream (all attribute combinations).
    Pretrain,
    /// Downstream training (held-out pairs excluded).
    Train,
    /// Downstream validation.
    Val,
    /// Downstream test.
    Test,
}

impl Split {
    /// Number of examples (`None` for the unbounded stream).
    pub fn len(self) -> Option<usize> {
        match self {
            Split::Pretrain => None,
            Split::Train => Some(TRAIN_SIZE),
            Split::Val => Some(VAL_SIZE),
            Split::Test => Some(TEST_SIZE),
        }
    }

    fn tag(self) -> u64 {
        match self {
            Split::Pretrain => 0x5052_4554,
            Split::Train => 0x5452_4149,
            Split::Val => 0x5641_4c5f,
            Split::Test => 0x5445_5354,
        }
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

/// A batch in the layout the backbone reads: row-major, example-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `size * MAX_TOKENS` token ids.
    pub tokens: Vec<usize>,
    /// `size * CLIP_LEN` pixel values.
    pub frames: Vec<f32>,
}

impl Batch {
    /// Stacks examples into a batch.
    pub fn from_examples<'a>(examples: impl IntoIterator<Item = &'a Example>) -> Batch {
        let mut b = Batch {
            tokens: vec![],
            frames: vec![],
        };
        for e in examples {
            b.tokens.extend_from_slice(&e.tokens);
            b.frames.extend_from_slice(&e.frames);
        }
        b
    }

    /// Checks that the batch is non-empty and its parts agree in size.
    pub fn validate(&self) -> crate::Result<()> {
        let b = self.tokens.len() / MAX_TOKENS;
        if b == 0 || self.tokens.len() != b * MAX_TOKENS || self.frames.len() != b * CLIP_LEN {
            return Err(crate::Error::InvalidSetting {
                field: "batch".into(),
                value: format!("{} tokens, {} pixel values", self.tokens.len(), self.frames.len()),
                reason: format!(
                    "expected a positive number of examples, each {MAX_TOKENS} tokens and {CLIP_LEN} values"
                ),
            });
        }
        if let Some(&t) = self.tokens.iter().find(|&&t| t >= VOCAB_SIZE) {
            return Err(crate::Error::InvalidSetting {
                field: "batch token".into(),
                value: t.to_string(),
                reason: format!("token ids must be below {VOCAB_SIZE}"),
            });
        }
        Ok(())
    }

    /// Number of examples.
    pub fn size(&self) -> usize {
        self.tokens.len() / MAX_TOKENS
    }

    /// Example `i`'s clip.
    pub fn clip(&self, i: usize) -> &[f32] {
        &self.frames[i * CLIP_LEN..(i + 1) * CLIP_LEN]
    }

    /// Example `i`'s tokens.
    pub fn caption_tokens(&self, i: usize) -> &[usize] {
        &self.tokens[i * MAX_TOKENS..(i + 1) * MAX_TOKENS]
    }
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x`.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
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
        let key = mix64(mix64(self.seed ^ split.tag()) ^ index);
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
        (0..split.len().unwrap_or(0) as u64)
            .map(|i| self.example(split, i))
            .collect()
    }

    /// Pretraining batch number `step`: stream examples `step*size .. (step+1)*size`.
    pub fn pretrain_batch(&self, step: u64, size: usize) -> Batch {
        let start = step * size as u64;
        let examples: Vec<Example> = (start..start + size as u64)
            .map(|i| self.example(Split::Pretrain, i))
            .collect();
        Batch::from_examples(&examples)
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
