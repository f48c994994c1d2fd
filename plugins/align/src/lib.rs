//! `align` — symmetric text-visual InfoNCE (CLIP-style), the primary loss
//! for text-to-video retrieval.
//!
//! Captions and clips (or images) are embedded to unit vectors by the
//! backbone's retrieval part; the similarity matrix
//! of a batch, divided by `temperature`, is scored with cross-entropy in
//! both directions (text→video and video→text) with the matching pair as
//! the positive and the rest of the step's global batch as negatives
//! (gathered from the other ranks in a data-parallel run). It uses no
//! randomness: the seed is ignored.

use meltr::prelude::*;

/// Symmetric video-text InfoNCE; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
pub struct Align {
    /// Softmax temperature of the cosine similarities.
    pub temperature: f32,
}

impl Default for Align {
    fn default() -> Self {
        Align { temperature: 0.1 }
    }
}

impl Task for Align {
    const NAME: &'static str = "align";
    const SUMMARY: &'static str =
        "symmetric video-text InfoNCE; the primary loss for text-to-video retrieval";

    type Needs = (TextEmbedding, VisualEmbedding);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid("temperature", self.temperature, "must be positive"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, _: u64) -> Result<Loss<T>> {
        let t = net.part::<TextEmbedding>(batch.text()?)?;
        let v = net.part::<VisualEmbedding>(batch.visual()?)?;
        symmetric_info_nce(batch, t, v, self.temperature)
    }
}

register_task!(Align);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        meltr::testing::check_task::<Align>(0.8);
    }
}
