//! `cmlm` — conditioned masked language modelling (UniVL's CMLM).
//!
//! Each non-padding caption token is replaced by `[MASK]` with probability
//! `mask_prob` (at least one per caption); the cross-modal encoder reads the
//! masked caption together with the clip, and the masked-token head predicts
//! the original tokens. Loss: mean cross-entropy over the masked positions.
//! The masks are drawn from the seed only.

use meltr::prelude::*;

/// Conditioned masked language modelling; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct Cmlm {
    /// Probability that a caption token is masked (BERT: 0.15).
    pub mask_prob: f64,
}

impl Default for Cmlm {
    fn default() -> Self {
        Cmlm { mask_prob: 0.15 }
    }
}

/// The captions with tokens masked, and for each masked position its
/// index (`i * text.len + j`) and original id.
pub fn mask_tokens(text: &Text, prob: f64, seed: u64) -> (Text, Vec<usize>, Vec<usize>) {
    let mut rng = task_rng(seed);
    let tokens = &text.tokens;
    let mut masked = tokens.to_vec();
    let (mut rows, mut targets) = (vec![], vec![]);
    for (i, cap) in tokens.chunks(text.len).enumerate() {
        let words: Vec<usize> = (0..cap.len()).filter(|&j| cap[j] != text.pad).collect();
        let mut chosen: Vec<usize> = words
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(prob))
            .collect();
        if chosen.is_empty() && !words.is_empty() {
            chosen.push(words[rng.gen_range(0..words.len())]);
        }
        for j in chosen {
            let r = i * text.len + j;
            rows.push(r);
            targets.push(tokens[r]);
            masked[r] = text.mask;
        }
    }
    (text.with_tokens(masked), rows, targets)
}

impl Task for Cmlm {
    const NAME: &'static str = "cmlm";
    const SUMMARY: &'static str = "conditioned masked language modelling: predict masked caption tokens with the video as context";

    type Needs = (MaskedTokenLogits,);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.mask_prob) {
            return Err(invalid("mask_prob", self.mask_prob, "must be in [0, 1]"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let text = batch.text()?;
        // Masks drawn for the whole global batch; this shard keeps its captions'.
        let (masked, rows, targets) = mask_tokens(&*batch.whole_text()?, self.mask_prob, seed);
        let total = targets.len();
        let masked = text.with_tokens(batch.own(&masked.tokens)?.to_vec());
        let first = batch.global_rows().start * text.len;
        let (rows, targets): (Vec<usize>, Vec<usize>) = rows
            .into_iter()
            .zip(targets)
            .filter(|&(r, _)| (first..first + text.tokens.len()).contains(&r))
            .map(|(r, t)| (r - first, t))
            .unzip();
        let logits = net.part::<MaskedTokenLogits>((&masked, batch.visual()?, &rows))?;
        let mut onehot = vec![0.0; rows.len() * text.vocab];
        for (m, &t) in targets.iter().enumerate() {
            onehot[m * text.vocab + t] = 1.0;
        }
        // The mean over every masked token of the global batch.
        mean_over_terms(
            batch,
            soft_cross_entropy(logits, onehot),
            targets.len(),
            total,
        )
    }
}

register_task!(Cmlm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_come_from_the_seed_and_cover_every_caption() {
        let batch = meltr::dataset::dataset_by_name("video_text", 0)
            .unwrap()
            .pretrain_batch(0, 8);
        let text = batch.text().unwrap();
        let a = mask_tokens(text, 0.15, 7);
        assert_eq!(a, mask_tokens(text, 0.15, 7));
        assert_ne!(a.1, mask_tokens(text, 0.15, 8).1);
        for i in 0..8 {
            assert!(
                a.1.iter().any(|r| r / text.len == i),
                "caption {i} has no mask"
            );
        }
        assert!(a.1.iter().all(|&r| a.0.tokens[r] == text.mask));
    }

    #[test]
    fn contract() {
        meltr::testing::check_task::<Cmlm>(0.85);
    }
}
