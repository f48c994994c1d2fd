//! Starting a learned combinator at the plain sum.
//!
//! A freshly initialised MELTR head is close to a constant function: its
//! per-task weights `∂f/∂l_k` are a few hundredths, of either sign. The
//! first meta steps then train the backbone on an arbitrary mix that
//! partly *ascends* some losses, and a scale-free optimiser such as Adam
//! turns even tiny weights into full-size steps. Fitting the head to the
//! multi-task sum first — weights `≈ 1` and value `≈ Σ_k l_k`, the
//! regulariser's own target — on loss vectors around the run's first losses
//! makes a run start as the plain sum and lets the meta steps move it away.
//!
//! The fit uses only the first-order pieces every combinator has:
//! `∂/∂φ ½ Σ_k (a_k − 1)² = ∂/∂φ D_l f[a − 1]` (the head term with
//! `c = a − 1`) and `∂/∂φ ½ ((f − Σ l)/Σ l)² = (f − Σ l)/(Σ l)² ∂f/∂φ`.

use super::MetaLoss;
use crate::error::{Error, Result};
use crate::tensor::{Adam, AdamConfig};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How well a combinator matches the plain sum on sampled losses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SumFit {
    /// Mean `|∂f/∂l_k − 1|` over samples and tasks.
    pub weight_error: f32,
    /// Mean `|f − Σ l| / Σ l` over samples.
    pub value_error: f32,
}

/// Loss vectors around `around`: each loss times `e^u`, `u ~ U(−1, 1)`
/// (floored at 1e-3, so a task already near zero still varies).
fn sample(around: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    around
        .iter()
        .map(|&l| l.max(1e-3) * rng.gen_range(-1.0f32..1.0).exp())
        .collect()
}

/// Measures the match with the sum on `n` losses sampled around `around`.
pub fn sum_fit(head: &dyn MetaLoss, around: &[f32], n: usize, seed: u64) -> Result<SumFit> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut we, mut ve) = (0.0f32, 0.0f32);
    for _ in 0..n.max(1) {
        let l = sample(around, &mut rng);
        let e = head.eval(&l)?;
        let total: f32 = l.iter().sum();
        we += e.weights.iter().map(|a| (a - 1.0).abs()).sum::<f32>() / l.len() as f32;
        ve += (e.value - total).abs() / total;
    }
    let n = n.max(1) as f32;
    Ok(SumFit {
        weight_error: we / n,
        value_error: ve / n,
    })
}

/// Fits `head` to the plain sum with `steps` Adam steps (learning rate
/// `lr`) on losses sampled around `around`; returns the match before and
/// after (measured on other samples). A non-finite gradient stops the fit
/// with an error and leaves the head as it was.
pub fn warm_start_to_sum(
    head: &mut dyn MetaLoss,
    around: &[f32],
    steps: usize,
    lr: f32,
    seed: u64,
) -> Result<(SumFit, SumFit)> {
    let check = 0x5eed_c4ec ^ seed;
    let before = sum_fit(head, around, 32, check)?;
    let start = head.params();
    let mut params = start.clone();
    let config = AdamConfig {
        lr,
        ..Default::default()
    };
    let mut adam = Adam::new(config, &params);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..steps {
        let l = sample(around, &mut rng);
        let e = head.eval(&l)?;
        let slope: Vec<f32> = e.weights.iter().map(|a| a - 1.0).collect();
        // The value in relative terms: an absolute level term would
        // dominate and settle on a constant (weights 0) first.
        let total: f32 = l.iter().sum();
        let level = (e.value - total) / (total * total);
        let mut grad = head.mixed_grad(&l, &slope)?;
        grad.axpy(1.0, &head.param_grad(&l, level)?);
        if adam.step(&mut params, &grad).is_err() {
            head.set_params(&start)?;
            return Err(Error::NonFinite {
                what: "warm-start gradient".into(),
                index: 0,
                value: f32::NAN,
            });
        }
        head.set_params(&params)?;
    }
    Ok((before, sum_fit(head, around, 32, check)?))
}
