//! `align` — symmetric text-visual InfoNCE (CLIP-style), the primary loss
//! for text-to-video retrieval.
//!
//! Captions and clips (or images) are embedded to unit vectors by the
//! backbone's retrieval part; the similarity matrix
//! of a batch, divided by `temperature`, is scored with cross-entropy in
//! both directions (text→video and video→text) with the matching pair as
//! the positive and the rest of the batch as negatives. It uses no
//! randomness: the seed is ignored.

use meltr::aux_task::{symmetric_info_nce, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{Batch, Dev, Free, Loss, Net, Taped};
use meltr::dfdx::prelude::*;
use meltr::{Error, Result};
use serde::{Deserialize, Serialize};

/// Symmetric video-text InfoNCE; see the crate docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Align {
    /// Softmax temperature of the cosine similarities.
    pub temperature: f32,
}

impl Default for Align {
    fn default() -> Self {
        Align { temperature: 0.1 }
    }
}

impl Align {
    fn loss<T: Tape<f32, Dev>>(&self, net: &dyn Net<T>, batch: &Batch) -> Result<Loss<T>> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::TaskConfig {
                task: "align".into(),
                message: format!("temperature = {} must be positive", self.temperature),
            });
        }
        let t = net.text_embedding(batch.text()?)?;
        let v = net.visual_embedding(batch.visual()?)?;
        let logits = t.matmul(v.permute()) / self.temperature;
        Ok(symmetric_info_nce(logits))
    }
}

#[typetag::serde(name = "align")]
impl AuxTask for Align {
    fn name(&self) -> &str {
        "align"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![
            Capability::TextEncoder,
            Capability::VisualEncoder,
            Capability::Retrieval,
        ]
    }
    fn loss_taped(&self, net: &dyn Net<Taped>, batch: &Batch, _seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch)
    }
    fn loss_free(&self, net: &dyn Net<Free>, batch: &Batch, _seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch)
    }
}

inventory::submit!(TaskRegistration::of::<Align>(
    "align",
    "symmetric video-text InfoNCE; the primary loss for text-to-video retrieval"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        meltr::aux_task::testing::check_task(Box::new(Align::default()), 0.8);
    }
}
