//! Warm-starting learned combinators at the plain sum.

use meltr::head::{Meltr, Preset};
use meltr::meta_loss::{sum_fit, warm_start_to_sum, LearnedLinear, MetaLoss};

/// Losses like a fine-tuning run's first step (one task already near zero).
const AROUND: [f32; 5] = [1.04, 1.85, 1.63, 2.31, 0.002];

#[test]
fn a_fresh_meltr_head_is_far_from_the_sum_and_the_warm_start_brings_it_there() {
    let mut head = Meltr::init(Preset::Univl, 5, 0).unwrap();
    let (before, after) = warm_start_to_sum(&mut head, &AROUND, 200, 1e-3, 1).unwrap();
    println!("before {before:?}\nafter  {after:?}");
    // A fresh head's weights are near zero: |a − 1| ≈ 1.
    assert!(before.weight_error > 0.8, "{before:?}");
    assert!(after.weight_error < 0.1, "{after:?}");
    // The level matters only to the regulariser and is fitted more loosely.
    assert!(after.value_error < before.value_error / 3.0, "{after:?}");
    // Measured on other samples than those it was fitted on.
    let again = sum_fit(&head, &AROUND, 64, 99).unwrap();
    assert!(again.weight_error < 0.1, "{again:?}");
}

#[test]
fn the_learned_linear_combinator_warm_starts_too() {
    let mut lin: LearnedLinear = toml::from_str("tasks = 5").unwrap();
    let (_, after) = warm_start_to_sum(&mut lin, &AROUND, 300, 3e-2, 1).unwrap();
    assert!(after.weight_error < 0.05, "{after:?}");
    let e = lin.eval(&AROUND).unwrap();
    assert!(
        e.weights.iter().all(|a| (a - 1.0).abs() < 0.05),
        "{:?}",
        e.weights
    );
}

#[test]
fn zero_steps_change_nothing() {
    let mut head = Meltr::init(Preset::Allinone, 5, 3).unwrap();
    let p = head.params().to_vec();
    let (before, after) = warm_start_to_sum(&mut head, &AROUND, 0, 1e-3, 1).unwrap();
    assert_eq!(before, after);
    assert_eq!(head.params().to_vec(), p);
}
