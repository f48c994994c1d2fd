//! What a task needs from a backbone, and what a backbone offers.

use serde::{Deserialize, Serialize};

/// One part of a backbone a task may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Caption encoder.
    TextEncoder,
    /// Encoder of images or clips.
    VisualEncoder,
    /// Joint text-video encoder.
    CrossEncoder,
    /// Retrieval projections of text and images or clips into one space.
    Retrieval,
    /// Vocabulary logits for masked tokens.
    MaskedTokenHead,
    /// Frame-feature predictor for masked frames.
    FrameHead,
    /// Four-way rotation classifier.
    RotationHead,
    /// Class logits of images or clips.
    Classifier,
    /// Pixel predictor for masked pixels.
    PixelDecoder,
}

impl Capability {
    /// The snake_case name used in configs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Capability::TextEncoder => "text_encoder",
            Capability::VisualEncoder => "visual_encoder",
            Capability::CrossEncoder => "cross_encoder",
            Capability::Retrieval => "retrieval",
            Capability::MaskedTokenHead => "masked_token_head",
            Capability::FrameHead => "frame_head",
            Capability::RotationHead => "rotation_head",
            Capability::Classifier => "classifier",
            Capability::PixelDecoder => "pixel_decoder",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
