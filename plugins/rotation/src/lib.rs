//! `rotation` — rotation prediction (RotNet-style) on clips.
//!
//! Every frame of clip `i` is rotated by `r_i · 90°` counter-clockwise,
//! `r_i` uniform in {0, 1, 2, 3} drawn from the seed; the pooled video
//! encoding goes through the rotation head, trained with cross-entropy on
//! `r_i`. (The world's sky-to-ground background gradient makes the
//! rotation visible.)

use meltr::aux_task::{task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{Dev, Free, Loss, Net, Taped, ROTATIONS};
use meltr::dfdx::prelude::*;
use meltr::world::{rotate_clip, Batch, CLIP_LEN, FRAMES};
use meltr::Result;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Rotation classification; see the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {}

/// The quarter turns of each of `b` clips.
pub fn angles(b: usize, seed: u64) -> Vec<usize> {
    let mut rng = task_rng(seed);
    (0..b).map(|_| rng.gen_range(0..ROTATIONS)).collect()
}

impl Rotation {
    fn loss<T: Tape<f32, Dev>>(&self, net: &Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let b = batch.size();
        let turns = angles(b, seed);
        let mut frames = Vec::with_capacity(b * CLIP_LEN);
        let mut target = vec![0.0; b * ROTATIONS];
        for (i, &r) in turns.iter().enumerate() {
            frames.extend(rotate_clip(batch.clip(i), r));
            target[i * ROTATIONS + r] = 1.0;
        }
        let pooled = net.pool(net.encode_video(&frames), FRAMES);
        let logits = net.rotation_logits(pooled);
        Ok(cross_entropy_with_logits_loss(
            logits,
            net.constant(target, (b, Const::<ROTATIONS>)),
        ))
    }
}

#[typetag::serde(name = "rotation")]
impl AuxTask for Rotation {
    fn name(&self) -> &str {
        "rotation"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![Capability::VideoEncoder, Capability::RotationHead]
    }
    fn loss_taped(&self, net: &Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}

inventory::submit!(TaskRegistration::of::<Rotation>(
    "rotation",
    "rotate clips by 0/90/180/270 degrees and classify the rotation"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_come_from_the_seed() {
        assert_eq!(angles(32, 5), angles(32, 5));
        assert_ne!(angles(32, 5), angles(32, 6));
    }

    #[test]
    fn contract() {
        meltr::aux_task::testing::check_task(Box::new(Rotation::default()), 0.5);
    }
}
