//! `masked_pixels` — masked-image modelling on raw pixels.
//!
//! Every pixel value of every image is hidden with probability `mask_prob`
//! (at least one per image), drawn from the seed only; the backbone's pixel
//! decoder predicts every pixel from the image with those pixels hidden, and
//! the loss is the mean squared error at the hidden pixels only.

use meltr::prelude::*;

/// Masked-pixel reconstruction; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct MaskedPixels {
    /// Probability that a pixel value is hidden, in `(0, 1]`.
    pub mask_prob: f64,
}

impl Default for MaskedPixels {
    fn default() -> Self {
        MaskedPixels { mask_prob: 0.25 }
    }
}

/// Which of `examples × per_example` pixel values are hidden: each with
/// probability `p`, and one drawn uniformly in an example where none was.
pub fn mask(examples: usize, per_example: usize, p: f64, seed: u64) -> Vec<bool> {
    let mut rng = task_rng(seed);
    let mut m = Vec::with_capacity(examples * per_example);
    for _ in 0..examples {
        let start = m.len();
        m.extend((0..per_example).map(|_| rng.gen::<f64>() < p));
        if per_example > 0 && !m[start..].contains(&true) {
            m[start + rng.gen_range(0..per_example)] = true;
        }
    }
    m
}

impl Task for MaskedPixels {
    const NAME: &'static str = "masked_pixels";
    const SUMMARY: &'static str =
        "hide random pixels of each image and reconstruct them (mean squared error)";

    type Needs = (MaskedPixelPrediction,);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(self.mask_prob > 0.0 && self.mask_prob <= 1.0) {
            return Err(invalid("mask_prob", self.mask_prob, "must be in (0, 1]"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let p = self.mask_prob;
        let visual = batch.visual()?;
        let whole = mask(batch.global_size(), visual.example_len(), p, seed);
        let masked = batch.own(&whole)?.to_vec();
        let pred = net.part::<MaskedPixelPrediction>((visual, &masked))?;
        let n = visual.pixels.len();
        if pred.shape().0 * pred.shape().1 != n {
            return Err(Error::Length {
                what: "masked_pixels: predicted pixel values".into(),
                expected: n,
                found: pred.shape().0 * pred.shape().1,
            });
        }
        let rows: Vec<usize> = (0..n).filter(|&i| masked[i]).collect();
        let target: Vec<f32> = rows.iter().map(|&i| visual.pixels[i]).collect();
        let m = rows.len();
        let dev = net.dev();
        let picked = pred
            .reshape_like(&(n,))
            .gather(dev.tensor_from_vec(rows, (m,)));
        let error = (picked - dev.tensor_from_vec(target, (m,))).square();
        // The mean over every hidden value of the global batch.
        let total = whole.iter().filter(|&&hidden| hidden).count();
        mean_over_terms(batch, error.mean::<Rank0, _>(), m, total)
    }
}

register_task!(MaskedPixels);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_come_from_the_seed_and_hide_a_pixel_of_every_image() {
        assert_eq!(mask(8, 64, 0.25, 5), mask(8, 64, 0.25, 5));
        assert_ne!(mask(8, 64, 0.25, 5), mask(8, 64, 0.25, 6));
        let m = mask(200, 64, 0.001, 1);
        assert!(m.chunks(64).all(|c| c.contains(&true)));
        let frac = mask(100, 64, 0.25, 2).iter().filter(|&&x| x).count() as f64 / 6400.0;
        assert!((frac - 0.25).abs() < 0.03, "{frac}");
    }

    #[test]
    fn contract() {
        meltr::testing::check_task::<MaskedPixels>(0.5);
    }
}
