//! `rotation` — rotation prediction (RotNet-style) on images or clips.
//!
//! Every frame of example `i` is rotated by `r_i · 90°` counter-clockwise,
//! `r_i` uniform in {0, 1, 2, 3} drawn from the seed; the backbone's
//! rotation head reads the rotated input and is trained with cross-entropy
//! on `r_i`. It runs on any backbone with a rotation head and square
//! frames: the video-text world's clips (whose sky-to-ground background
//! gradient makes the rotation visible) and the handwritten digits alike.

use meltr::prelude::*;

/// Rotation classification; see the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields)]
pub struct Rotation {}

/// Rotation classes (0°, 90°, 180°, 270°).
pub const ROTATIONS: usize = 4;

/// The quarter turns of each of `b` examples.
pub fn angles(b: usize, seed: u64) -> Vec<usize> {
    let mut rng = task_rng(seed);
    (0..b).map(|_| rng.gen_range(0..ROTATIONS)).collect()
}

impl Task for Rotation {
    const NAME: &'static str = "rotation";
    const SUMMARY: &'static str = "rotate clips by 0/90/180/270 degrees and classify the rotation";

    type Needs = (RotationLogits,);

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let whole = angles(batch.global_size(), seed);
        let turns = batch.own(&whole)?;
        let rotated = batch.visual()?.rotated(turns)?;
        let mut target = vec![0.0; batch.size * ROTATIONS];
        for (i, &r) in turns.iter().enumerate() {
            target[i * ROTATIONS + r] = 1.0;
        }
        Ok(soft_cross_entropy(
            net.part::<RotationLogits>(&rotated)?,
            target,
        ))
    }
}

register_task!(Rotation);

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
        meltr::testing::check_task::<Rotation>(0.6);
    }
}
