//! `mixup` — mix pairs of inputs, and mix the target of the objective the
//! backbone is trained on accordingly.
//!
//! Each example `i` is mixed pixel-wise with a partner `π(i)` of the same
//! batch: `x = λ_i x_i + (1 − λ_i) x_π(i)`, `λ_i ~ Beta(alpha, alpha)`
//! (images or clips alike). The target is mixed the same way:
//!
//! * `classes` (batches with labels): cross-entropy of the class logits
//!   against `λ_i · onehot(y_i) + (1 − λ_i) · onehot(y_π(i))`;
//! * `captions` (batches with captions): the mixed input's retrieval
//!   embedding scored against every caption of the batch (cosine
//!   similarity / `temperature`), cross-entropy against the soft target
//!   that puts `λ_i` on caption `i` and `1 − λ_i` on caption `π(i)`.
//!
//! `objective = "auto"` (the default) takes `classes` when the batch has
//! labels, else `captions`. The λs and the partner shift come from the seed
//! only. Partners and captions are drawn from the step's whole global
//! batch: in a data-parallel run the inputs are gathered from every rank.

use meltr::prelude::*;
use rand_distr::{Beta, Distribution};

/// Mixup with soft targets; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct Mixup {
    /// Beta distribution parameter of the mixing coefficient.
    pub alpha: f64,
    /// Softmax temperature of the cosine similarities (`captions`).
    pub temperature: f32,
    /// Which target is mixed.
    pub objective: Objective,
}

/// The objective whose target mixup mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// `classes` when the batch has labels, else `captions`.
    Auto,
    /// Class labels, through the backbone's classifier.
    Classes,
    /// Captions, through the backbone's retrieval embeddings.
    Captions,
}

impl Default for Mixup {
    fn default() -> Self {
        Mixup {
            alpha: 0.4,
            temperature: 0.1,
            objective: Objective::Auto,
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

impl Task for Mixup {
    const NAME: &'static str = "mixup";
    const SUMMARY: &'static str = "mix two images or clips with lambda ~ Beta(alpha, alpha); mix their class labels or captions as soft targets";

    type Needs = ();
    const COUPLING: Coupling = Coupling::Batch;

    fn needs(&self) -> Vec<PartId> {
        // With `auto`, the objective's own part is asked for at run time
        // (and refused by name if the backbone lacks it).
        match self.objective {
            Objective::Auto => vec![],
            Objective::Classes => <(ClassLogits,)>::ids(),
            Objective::Captions => <(VisualEmbedding, TextEmbedding)>::ids(),
        }
    }

    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid("temperature", self.temperature, "must be positive"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(invalid("alpha", self.alpha, "must be positive"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        // Planned and mixed over the whole global batch; this shard keeps
        // its rows (`i` below is an index in the whole batch).
        let (b, rows) = (batch.global_size(), batch.global_rows());
        let (lambdas, partner) = plan(b, self.alpha, seed)?;
        let mixed = batch.whole_visual()?.mixed(&lambdas, &partner);
        let mixed = mixed.with_pixels(batch.own(&mixed.pixels)?.to_vec());
        let objective = match self.objective {
            Objective::Auto if batch.labels.is_some() => Objective::Classes,
            Objective::Auto => Objective::Captions,
            o => o,
        };
        if objective == Objective::Classes {
            let labels = batch.whole_labels()?;
            let c = labels.classes;
            let mut target = vec![0.0; rows.len() * c];
            for (row, i) in rows.enumerate() {
                target[row * c + labels.ids[i]] += lambdas[i];
                target[row * c + labels.ids[partner[i]]] += 1.0 - lambdas[i];
            }
            return Ok(soft_cross_entropy(net.part::<ClassLogits>(&mixed)?, target));
        }
        let mut target = vec![0.0; b * b];
        for i in 0..b {
            let (l, p) = (lambdas[i], partner[i]);
            target[i * b + i] += l;
            target[i * b + p] += 1.0 - l;
        }
        let v = gather_rows(batch, net.part::<VisualEmbedding>(&mixed)?)?;
        let t = gather_rows(batch, net.part::<TextEmbedding>(batch.text()?)?)?;
        let logits = v.matmul(t.permute()) / self.temperature;
        Ok(whole_batch_loss(batch, soft_cross_entropy(logits, target)))
    }
}

register_task!(Mixup);

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
        meltr::testing::check_task::<Mixup>(0.9);
    }
}
