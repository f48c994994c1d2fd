//! `mixup` — video mixup against soft caption targets.
//!
//! Each clip `i` is mixed pixel-wise with a partner clip `π(i)` of the same
//! batch: `x = λ_i x_i + (1 − λ_i) x_π(i)`, `λ_i ~ Beta(alpha, alpha)`.
//! The mixed clip's embedding is scored against every caption of the batch
//! (cosine similarity / `temperature`), and trained with cross-entropy
//! against the soft target that puts `λ_i` on caption `i` and `1 − λ_i` on
//! caption `π(i)`. The λs and the partner shift come from the seed only.

use meltr::aux_task::{task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{Dev, Free, Loss, Net, Taped};
use meltr::dfdx::prelude::*;
use meltr::world::{Batch, CLIP_LEN};
use meltr::{Error, Result};
use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

/// Video mixup with soft targets; see the crate docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mixup {
    /// Beta distribution parameter of the mixing coefficient.
    pub alpha: f64,
    /// Softmax temperature of the cosine similarities.
    pub temperature: f32,
}

impl Default for Mixup {
    fn default() -> Self {
        Mixup {
            alpha: 0.4,
            temperature: 0.1,
        }
    }
}

/// The mixing plan of a batch of `b` clips: λ per clip, and the partner of clip `i`.
pub fn plan(b: usize, alpha: f64, seed: u64) -> Result<(Vec<f32>, Vec<usize>)> {
    let beta = Beta::new(alpha, alpha).map_err(|e| Error::TaskConfig {
        task: "mixup".into(),
        message: format!("alpha = {alpha}: {e}"),
    })?;
    let mut rng = task_rng(seed);
    let shift = if b > 1 { rng.gen_range(1..b) } else { 0 };
    let lambdas = (0..b).map(|_| beta.sample(&mut rng) as f32).collect();
    Ok((lambdas, (0..b).map(|i| (i + shift) % b).collect()))
}

impl Mixup {
    fn loss<T: Tape<f32, Dev>>(&self, net: &Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::TaskConfig {
                task: "mixup".into(),
                message: format!("temperature = {} must be positive", self.temperature),
            });
        }
        let b = batch.size();
        let (lambdas, partner) = plan(b, self.alpha, seed)?;
        let mut mixed = Vec::with_capacity(b * CLIP_LEN);
        let mut target = vec![0.0; b * b];
        for i in 0..b {
            let (l, p) = (lambdas[i], partner[i]);
            mixed.extend(
                batch
                    .clip(i)
                    .iter()
                    .zip(batch.clip(p))
                    .map(|(x, y)| l * x + (1.0 - l) * y),
            );
            target[i * b + i] += l;
            target[i * b + p] += 1.0 - l;
        }
        let v = net.video_embedding(&mixed);
        let t = net.text_embedding(&batch.tokens);
        let logits = v.matmul(t.permute()) / self.temperature;
        Ok(cross_entropy_with_logits_loss(
            logits,
            net.constant(target, (b, b)),
        ))
    }
}

#[typetag::serde(name = "mixup")]
impl AuxTask for Mixup {
    fn name(&self) -> &str {
        "mixup"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![
            Capability::TextEncoder,
            Capability::VideoEncoder,
            Capability::Retrieval,
        ]
    }
    fn loss_taped(&self, net: &Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}

inventory::submit!(TaskRegistration::of::<Mixup>(
    "mixup",
    "mix two clips with lambda ~ Beta(alpha, alpha); match the mixed clip to both captions with soft targets"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_comes_from_the_seed() {
        let a = plan(16, 0.4, 1).unwrap();
        assert_eq!(a, plan(16, 0.4, 1).unwrap());
        assert_ne!(a.0, plan(16, 0.4, 2).unwrap().0);
        assert!(a.0.iter().all(|l| (0.0..=1.0).contains(l)));
        assert!(a.1.iter().enumerate().all(|(i, &p)| p != i));
        assert!(plan(4, 0.0, 1).unwrap_err().to_string().contains("alpha"));
    }

    #[test]
    fn contract() {
        meltr::aux_task::testing::check_task(Box::new(Mixup::default()), 0.9);
    }
}
