//! `cmlm` — conditioned masked language modelling (UniVL's CMLM).
//!
//! Each non-padding caption token is replaced by `[MASK]` with probability
//! `mask_prob` (at least one per caption); the cross-modal encoder reads the
//! masked caption together with the clip, and the masked-token head predicts
//! the original tokens. Loss: mean cross-entropy over the masked positions.
//! The masks are drawn from the seed only.

use meltr::aux_task::{task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{cross_text_row, Dev, Free, Loss, Net, Taped};
use meltr::dfdx::prelude::*;
use meltr::world::{Batch, MASK, MAX_TOKENS, PAD, VOCAB_SIZE};
use meltr::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Conditioned masked language modelling; see the crate docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cmlm {
    /// Probability that a caption token is masked (BERT: 0.15).
    pub mask_prob: f64,
}

impl Default for Cmlm {
    fn default() -> Self {
        Cmlm { mask_prob: 0.15 }
    }
}

/// Masked token ids, and for each masked position its row (`i * MAX_TOKENS + j`) and original id.
pub fn mask_tokens(tokens: &[usize], prob: f64, seed: u64) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut rng = task_rng(seed);
    let mut masked = tokens.to_vec();
    let (mut rows, mut targets) = (vec![], vec![]);
    for (i, cap) in tokens.chunks(MAX_TOKENS).enumerate() {
        let words: Vec<usize> = (0..cap.len()).filter(|&j| cap[j] != PAD).collect();
        let mut chosen: Vec<usize> = words
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(prob))
            .collect();
        if chosen.is_empty() && !words.is_empty() {
            chosen.push(words[rng.gen_range(0..words.len())]);
        }
        for j in chosen {
            let r = i * MAX_TOKENS + j;
            rows.push(r);
            targets.push(tokens[r]);
            masked[r] = MASK;
        }
    }
    (masked, rows, targets)
}

impl Cmlm {
    fn loss<T: Tape<f32, Dev>>(&self, net: &Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        if !(0.0..=1.0).contains(&self.mask_prob) {
            return Err(Error::TaskConfig {
                task: "cmlm".into(),
                message: format!("mask_prob = {} must be in [0, 1]", self.mask_prob),
            });
        }
        let (masked, rows, targets) = mask_tokens(&batch.tokens, self.mask_prob, seed);
        let text = net.encode_text(&masked);
        let video = net.encode_video(&batch.frames);
        let joint = net.cross(text, video);
        let cross_rows: Vec<usize> = rows
            .iter()
            .map(|r| cross_text_row(r / MAX_TOKENS, r % MAX_TOKENS))
            .collect();
        let logits = net.mlm_logits(net.gather_rows(joint, &cross_rows));
        let mut onehot = vec![0.0; rows.len() * VOCAB_SIZE];
        for (m, &t) in targets.iter().enumerate() {
            onehot[m * VOCAB_SIZE + t] = 1.0;
        }
        let target = net.constant(onehot, (rows.len(), Const::<VOCAB_SIZE>));
        Ok(cross_entropy_with_logits_loss(logits, target))
    }
}

#[typetag::serde(name = "cmlm")]
impl AuxTask for Cmlm {
    fn name(&self) -> &str {
        "cmlm"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![
            Capability::TextEncoder,
            Capability::VideoEncoder,
            Capability::CrossEncoder,
            Capability::MaskedTokenHead,
        ]
    }
    fn loss_taped(&self, net: &Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}

inventory::submit!(TaskRegistration::of::<Cmlm>(
    "cmlm",
    "conditioned masked language modelling: predict masked caption tokens with the video as context"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_come_from_the_seed_and_cover_every_caption() {
        let batch = meltr::world::World::new(0).pretrain_batch(0, 8);
        let a = mask_tokens(&batch.tokens, 0.15, 7);
        assert_eq!(a, mask_tokens(&batch.tokens, 0.15, 7));
        assert_ne!(a.1, mask_tokens(&batch.tokens, 0.15, 8).1);
        for i in 0..8 {
            assert!(
                a.1.iter().any(|r| r / MAX_TOKENS == i),
                "caption {i} has no mask"
            );
        }
    }

    #[test]
    fn contract() {
        meltr::aux_task::testing::check_task(Box::new(Cmlm::default()), 0.85);
    }
}
