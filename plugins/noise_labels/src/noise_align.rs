//! `noise_align` — the video-text counterpart of `noise_labels`: `align`'s
//! symmetric InfoNCE with each caption matched to a clip of the step's
//! global batch drawn at random from the step's seed (a uniform
//! permutation), not to its own clip.
//!
//! The pairing is a function of the seed and the batch size alone, so
//! nothing about a caption or a clip predicts its partner: the task teaches
//! the backbone nothing, and it works the very embeddings `align` (the
//! retrieval task) trains against pairs that do not belong together.

use meltr::prelude::*;
use meltr::tensor::{cross_entropy_with_logits, Targets};
use rand::seq::SliceRandom;

/// Alignment with random partners; see the module docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct NoiseAlign {
    /// Softmax temperature of the cosine similarities (`align`'s default).
    pub temperature: f32,
}

impl Default for NoiseAlign {
    fn default() -> Self {
        NoiseAlign { temperature: 0.1 }
    }
}

/// The clip each of `n` captions is matched with: a uniform random
/// permutation of `0..n`, a function of the seed alone, never of the
/// examples.
pub fn noise_pairing(n: usize, seed: u64) -> Vec<usize> {
    let mut clip_of: Vec<usize> = (0..n).collect();
    clip_of.shuffle(&mut task_rng(seed));
    clip_of
}

impl Task for NoiseAlign {
    const NAME: &'static str = "noise_align";
    const SUMMARY: &'static str =
        "harmful on purpose: align each caption with a clip of the batch drawn at random from the seed";

    type Needs = (TextEmbedding, VisualEmbedding);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid("temperature", self.temperature, "must be positive"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let t = gather_rows(batch, net.part::<TextEmbedding>(batch.text()?)?)?;
        let v = gather_rows(batch, net.part::<VisualEmbedding>(batch.visual()?)?)?;
        // Every rank draws the same pairing of the whole global batch.
        let clip_of = noise_pairing(batch.global_size(), seed);
        let mut caption_of = vec![0; clip_of.len()];
        for (caption, &clip) in clip_of.iter().enumerate() {
            caption_of[clip] = caption;
        }
        let logits = t.matmul(v.permute()) / self.temperature;
        let text_to_clip =
            cross_entropy_with_logits(logits.retaped::<T>(), Targets::Classes(&clip_of));
        // `contiguous`: as `align`'s, dfdx 0.13 differentiates log-softmax
        // of a transposed view wrongly on CUDA.
        let clip_to_text = cross_entropy_with_logits(
            logits.permute::<_, Axes2<1, 0>>().contiguous(),
            Targets::Classes(&caption_of),
        );
        Ok(whole_batch_loss(batch, (text_to_clip + clip_to_text) * 0.5))
    }
}

register_task!(NoiseAlign);

#[cfg(test)]
mod tests {
    use super::*;
    use meltr::aux_task::{build_task, task_seed, TaskSet};
    use meltr::backbone::backbone_from_kind;
    use meltr::dataset::{dataset_by_name, Split};
    use meltr_align as _;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_pairing_comes_from_the_seed_alone(n in 1usize..128, seed: u64) {
            let p = noise_pairing(n, seed);
            // A permutation: every clip is some caption's partner once.
            let mut sorted = p.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            // The same seed and size, the same pairing, whatever the batch.
            prop_assert_eq!(&p, &noise_pairing(n, seed));
        }
    }

    #[test]
    fn the_pairing_is_uniform_and_changes_with_the_seed() {
        // Caption 0's partner over 20 000 seeds, batches of 10: each clip
        // 2000 ± 4.5 standard deviations (42.4) times; a uniform
        // permutation has one fixed point on average.
        let mut counts = [0usize; 10];
        let mut fixed = 0;
        for seed in 0..20_000 {
            let p = noise_pairing(10, seed);
            counts[p[0]] += 1;
            fixed += p.iter().enumerate().filter(|(i, &c)| *i == c).count();
        }
        assert!(counts.iter().all(|&n| n.abs_diff(2000) < 191), "{counts:?}");
        // Fixed points per permutation: mean 1, variance 1; 20 000 draws.
        assert!(fixed.abs_diff(20_000) < 4 * 142, "{fixed}");
        assert_ne!(noise_pairing(32, 5), noise_pairing(32, 6));
    }

    #[test]
    fn the_loss_is_align_s_with_each_caption_beside_its_drawn_clip() {
        // An independent reference: the `align` task (matching pairs on
        // the diagonal) on a batch whose clips are reordered so that
        // caption i sits beside clip `pairing[i]`.
        let data = dataset_by_name("video_text", 0).unwrap();
        let model = backbone_from_kind(data.backbone_kind(), &Default::default(), 3).unwrap();
        let w = model.params().clone();
        let n = 12;
        let batch = data.batch(Split::Train, &(0..n).collect::<Vec<_>>());
        let empty = toml::Table::new();
        let noise = TaskSet::new(vec![build_task("noise_align", &empty).unwrap()]);
        let align = TaskSet::new(vec![build_task("align", &empty).unwrap()]);
        let mut seen = vec![];
        for seed in [1, 2, 99] {
            // The set gives its first task the step's seed mixed with its index.
            let pairing = noise_pairing(n, task_seed(seed, 0));
            let mut paired = batch.clone();
            paired.visual = data.batch(Split::Train, &pairing).visual;
            let got = noise.losses_at(&*model, &w, &batch, seed).unwrap()[0];
            let want = align.losses_at(&*model, &w, &paired, 0).unwrap()[0];
            assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
            seen.push(got);
        }
        // The pairings differ, and so do the losses; align's own pairing
        // gives align's loss.
        assert!(seen[0] != seen[1] && seen[1] != seen[2], "{seen:?}");
        let own = align.losses_at(&*model, &w, &batch, 0).unwrap()[0];
        assert!(seen.iter().all(|&l| l != own), "{seen:?} vs {own}");
    }

    #[test]
    fn contract() {
        // Random partners cannot be learnt: the held-out loss only has to
        // stay near its start (the contract's learning check, loosened).
        meltr::testing::check_task::<NoiseAlign>(1.5);
    }
}
