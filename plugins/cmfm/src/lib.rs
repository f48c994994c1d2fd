//! `cmfm` — conditioned masked frame modelling (UniVL's CMFM, NCE form).
//!
//! Each frame is masked with probability `mask_prob` (at least one per
//! clip): its feature is replaced by the learned mask embedding before the
//! temporal encoder. The cross-modal encoder reads the caption and the
//! masked clip; the frame head predicts a feature for each masked frame,
//! scored against the true (unmasked, detached) frame features of all masked
//! frames in the batch. Loss: InfoNCE with the true frame as the positive.
//! The masks come from the seed only.

use meltr::aux_task::{info_nce, task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{cross_video_row, Dev, Free, Loss, Net, Taped, D_MODEL};
use meltr::dfdx::prelude::*;
use meltr::world::{Batch, FRAMES};
use meltr::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Conditioned masked frame modelling; see the crate docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cmfm {
    /// Probability that a frame is masked.
    pub mask_prob: f64,
}

impl Default for Cmfm {
    fn default() -> Self {
        Cmfm { mask_prob: 0.15 }
    }
}

/// Which of `clips * FRAMES` frames are masked (at least one per clip).
pub fn mask_frames(clips: usize, prob: f64, seed: u64) -> Vec<bool> {
    let mut rng = task_rng(seed);
    let mut m: Vec<bool> = (0..clips * FRAMES).map(|_| rng.gen_bool(prob)).collect();
    for c in 0..clips {
        let clip = &mut m[c * FRAMES..(c + 1) * FRAMES];
        if !clip.iter().any(|&x| x) {
            clip[rng.gen_range(0..FRAMES)] = true;
        }
    }
    m
}

impl Cmfm {
    fn loss<T: Tape<f32, Dev>>(&self, net: &Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        if !(0.0..=1.0).contains(&self.mask_prob) {
            return Err(Error::TaskConfig {
                task: "cmfm".into(),
                message: format!("mask_prob = {} must be in [0, 1]", self.mask_prob),
            });
        }
        let masked = mask_frames(batch.size(), self.mask_prob, seed);
        let rows: Vec<usize> = (0..masked.len()).filter(|&i| masked[i]).collect();
        let targets = net.detached().embed_frames(&batch.frames);
        let targets = net.detached().gather_rows(targets, &rows);
        let frames = net.mask_frames(net.embed_frames(&batch.frames), &masked);
        let video = net.encode_frames(frames);
        let text = net.encode_text(&batch.tokens);
        let joint = net.cross(text, video);
        let cross_rows: Vec<usize> = rows
            .iter()
            .map(|r| cross_video_row(r / FRAMES, r % FRAMES))
            .collect();
        let pred = net.frame_prediction(net.gather_rows(joint, &cross_rows));
        let scale = 1.0 / (D_MODEL as f32).sqrt();
        Ok(info_nce(net, pred.matmul(targets.permute()) * scale))
    }
}

#[typetag::serde(name = "cmfm")]
impl AuxTask for Cmfm {
    fn name(&self) -> &str {
        "cmfm"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![
            Capability::TextEncoder,
            Capability::VideoEncoder,
            Capability::CrossEncoder,
            Capability::FrameHead,
        ]
    }
    fn loss_taped(&self, net: &Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}

inventory::submit!(TaskRegistration::of::<Cmfm>(
    "cmfm",
    "conditioned masked frame modelling: pick each masked frame's true features (NCE) with the text as context"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_come_from_the_seed_and_cover_every_clip() {
        let a = mask_frames(16, 0.15, 3);
        assert_eq!(a, mask_frames(16, 0.15, 3));
        assert_ne!(a, mask_frames(16, 0.15, 4));
        assert!(a.chunks(FRAMES).all(|c| c.iter().any(|&x| x)));
    }

    #[test]
    fn contract() {
        meltr::aux_task::testing::check_task(Box::new(Cmfm::default()), 0.8);
    }
}
