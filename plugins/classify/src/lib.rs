//! `classify` — supervised classification of the visual input.
//!
//! The backbone's class logits of each example's images are trained with
//! cross-entropy against its label (one-hot, or smoothed: `1 − s` on the
//! label plus `s / classes` on every class, `s = label_smoothing`). No
//! randomness: the seed is ignored.

use meltr::prelude::*;

/// Classification with cross-entropy; see the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct Classify {
    /// Probability mass spread evenly over all classes, in `[0, 1)`.
    pub label_smoothing: f32,
}

/// The target distributions `(examples × classes)` of `labels`, with
/// `smoothing` spread over all classes.
pub fn targets(labels: &[usize], classes: usize, smoothing: f32) -> Vec<f32> {
    let base = smoothing / classes as f32;
    let mut t = vec![base; labels.len() * classes];
    for (i, &c) in labels.iter().enumerate() {
        t[i * classes + c] += 1.0 - smoothing;
    }
    t
}

impl Task for Classify {
    const NAME: &'static str = "classify";
    const SUMMARY: &'static str = "cross-entropy of the backbone's class logits against the labels";

    type Needs = (ClassLogits,);

    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(invalid(
                "label_smoothing",
                self.label_smoothing,
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, _seed: u64) -> Result<Loss<T>> {
        let s = self.label_smoothing;
        let labels = batch.labels()?;
        let logits = net.part::<ClassLogits>(batch.visual()?)?;
        let shape = *logits.shape();
        if shape != (labels.ids.len(), labels.classes) {
            return Err(Error::TaskConfig {
                task: "classify".into(),
                message: format!(
                    "the backbone gives {} logits for each of {} examples; the batch has {} labels over {} classes",
                    shape.1,
                    shape.0,
                    labels.ids.len(),
                    labels.classes
                ),
            });
        }
        let target = targets(&labels.ids, labels.classes, s);
        Ok(soft_cross_entropy(logits, target))
    }
}

register_task!(Classify);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_distributions_with_the_label_on_top() {
        let t = targets(&[2, 0], 4, 0.2);
        assert_eq!(t, vec![0.05, 0.05, 0.85, 0.05, 0.85, 0.05, 0.05, 0.05]);
        assert_eq!(targets(&[1], 3, 0.0), vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn contract() {
        meltr::testing::check_task::<Classify>(0.5);
    }
}
