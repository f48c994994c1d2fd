//! `noise_labels` — a deliberately harmful auxiliary task: each example is
//! classified into a class drawn at random from the step's seed, uniform
//! over the backbone's classes and independent of the example.
//!
//! Nothing about the input predicts its target, so the task teaches the
//! backbone nothing; its gradient pulls the class logits of every input
//! towards the uniform distribution (in expectation) plus fresh noise each
//! step. Added to a task set, it asks which ways of combining the losses
//! learn to ignore it, and how fast (the paper's figure 4 claim).
//!
//! The crate holds the harmful tasks with random targets: this one for a
//! backbone with a class head, [`noise_align`] for a video-text one.

use meltr::prelude::*;

pub mod noise_align;
pub use noise_align::{noise_pairing, NoiseAlign};

/// Random-label classification; see the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields)]
pub struct NoiseLabels {}

/// The random classes of `b` examples over `classes` classes: a function
/// of the seed alone, never of the examples.
pub fn noise_labels(b: usize, classes: usize, seed: u64) -> Vec<usize> {
    let mut rng = task_rng(seed);
    (0..b).map(|_| rng.gen_range(0..classes)).collect()
}

impl Task for NoiseLabels {
    const NAME: &'static str = "noise_labels";
    const SUMMARY: &'static str =
        "harmful on purpose: classify each example into a random class drawn from the seed";

    type Needs = (ClassLogits,);

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let logits = net.part::<ClassLogits>(batch.visual()?)?;
        let classes = logits.shape().1;
        let whole = noise_labels(batch.global_size(), classes, seed);
        let labels = batch.own(&whole)?;
        let mut target = vec![0.0; batch.size * classes];
        for (i, &c) in labels.iter().enumerate() {
            target[i * classes + c] = 1.0;
        }
        Ok(soft_cross_entropy(logits, target))
    }
}

register_task!(NoiseLabels);

#[cfg(test)]
mod tests {
    use super::*;
    use meltr::aux_task::{build_task, task_seed, TaskSet};
    use meltr::backbone::backbone_from_kind;
    use meltr::dataset::{dataset_by_name, Split};
    use meltr_classify as _;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn labels_come_from_the_seed_alone(b in 1usize..64, classes in 2usize..20, seed: u64) {
            let l = noise_labels(b, classes, seed);
            prop_assert_eq!(l.len(), b);
            prop_assert!(l.iter().all(|&c| c < classes));
            prop_assert_eq!(&l, &noise_labels(b, classes, seed));
            // A longer batch starts with the same draws: the label of an
            // example depends on its position and the seed, not on the batch.
            prop_assert_eq!(&noise_labels(b + 7, classes, seed)[..b], &l[..]);
        }
    }

    #[test]
    fn labels_are_uniform_over_the_classes_and_change_with_the_seed() {
        // 20 000 draws over 10 classes: each count is 2000 ± 4.5 standard
        // deviations (√(20000 · 0.1 · 0.9) = 42.4).
        let mut counts = [0usize; 10];
        for seed in 0..1000 {
            for c in noise_labels(20, 10, seed) {
                counts[c] += 1;
            }
        }
        assert!(counts.iter().all(|&n| n.abs_diff(2000) < 191), "{counts:?}");
        assert_ne!(noise_labels(32, 10, 5), noise_labels(32, 10, 6));
    }

    #[test]
    fn the_loss_is_classify_s_on_the_same_images_with_the_random_labels() {
        // An independent reference: the `classify` task, whose targets are
        // the batch's labels, given the noise labels as the batch's labels.
        let data = dataset_by_name("digits", 0).unwrap();
        let model = backbone_from_kind(data.backbone_kind(), &Default::default(), 3).unwrap();
        let w = model.params().clone();
        let batch = data.batch(Split::Train, &(0..12).collect::<Vec<_>>());
        let classes = batch.labels.as_ref().unwrap().classes;
        let empty = toml::Table::new();
        let noise = TaskSet::new(vec![build_task("noise_labels", &empty).unwrap()]);
        let classify = TaskSet::new(vec![build_task("classify", &empty).unwrap()]);
        for seed in [1, 2, 99] {
            let mut relabelled = batch.clone();
            // The set gives its first task the step's seed mixed with its index.
            relabelled.labels.as_mut().unwrap().ids = noise_labels(12, classes, task_seed(seed, 0));
            let got = noise.losses_at(&*model, &w, &batch, seed).unwrap()[0];
            let want = classify.losses_at(&*model, &w, &relabelled, 0).unwrap()[0];
            assert!((got - want).abs() <= 1e-6 * want.abs(), "{got} vs {want}");
        }
    }

    #[test]
    fn contract() {
        // Random targets cannot be learnt: the held-out loss only has to
        // stay near its start (the contract's learning check, loosened).
        meltr::testing::check_task::<NoiseLabels>(1.5);
    }
}
