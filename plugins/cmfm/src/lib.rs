//! `cmfm` — conditioned masked frame modelling (UniVL's CMFM, NCE form).
//!
//! Each frame is masked with probability `mask_prob` (at least one per
//! clip): its feature is replaced by the learned mask embedding before the
//! temporal encoder. The cross-modal encoder reads the caption and the
//! masked clip; the frame head predicts a feature for each masked frame,
//! scored against the true (unmasked, detached) frame features of all masked
//! frames in the batch. Loss: InfoNCE with the true frame as the positive.
//! The masks come from the seed only.

use meltr::prelude::*;

/// Conditioned masked frame modelling; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct Cmfm {
    /// Probability that a frame is masked.
    pub mask_prob: f64,
}

impl Default for Cmfm {
    fn default() -> Self {
        Cmfm { mask_prob: 0.15 }
    }
}

/// Which of `clips * frames` frames are masked (at least one per clip).
pub fn mask_frames(clips: usize, frames: usize, prob: f64, seed: u64) -> Vec<bool> {
    let mut rng = task_rng(seed);
    let mut m: Vec<bool> = (0..clips * frames).map(|_| rng.gen_bool(prob)).collect();
    for c in 0..clips {
        let clip = &mut m[c * frames..(c + 1) * frames];
        if !clip.iter().any(|&x| x) {
            clip[rng.gen_range(0..frames)] = true;
        }
    }
    m
}

impl Task for Cmfm {
    const NAME: &'static str = "cmfm";
    const SUMMARY: &'static str = "conditioned masked frame modelling: pick each masked frame's true features (NCE) with the text as context";

    type Needs = (MaskedFramePrediction,);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.mask_prob) {
            return Err(invalid("mask_prob", self.mask_prob, "must be in [0, 1]"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let visual = batch.visual()?;
        let whole = mask_frames(batch.global_size(), visual.frames, self.mask_prob, seed);
        let masked = batch.own(&whole)?.to_vec();
        let (pred, targets) =
            net.part::<MaskedFramePrediction>((batch.text()?, visual, &masked))?;
        let scale = 1.0 / (pred.shape().1 as f32).sqrt();
        // Every masked frame of the global batch is a negative.
        let (pred, targets) = (
            gather_uneven_rows(batch, pred)?,
            gather_uneven_rows(batch, targets)?,
        );
        let loss = diagonal_cross_entropy(pred.matmul(targets.permute()) * scale);
        Ok(whole_batch_loss(batch, loss))
    }
}

register_task!(Cmfm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_come_from_the_seed_and_cover_every_clip() {
        let a = mask_frames(16, 8, 0.15, 3);
        assert_eq!(a, mask_frames(16, 8, 0.15, 3));
        assert_ne!(a, mask_frames(16, 8, 0.15, 4));
        assert!(a.chunks(8).all(|c| c.iter().any(|&x| x)));
    }

    #[test]
    fn contract() {
        meltr::testing::check_task::<Cmfm>(0.8);
    }
}
