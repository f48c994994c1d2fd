//! What a task needs from a backbone, and what a backbone offers.

use serde::{Deserialize, Serialize};

/// One part of a backbone a task may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Caption encoder.
    TextEncoder,
    /// Clip encoder.
    VideoEncoder,
    /// Joint text-video encoder.
    CrossEncoder,
    /// Retrieval projections of text and video into one space.
    Retrieval,
    /// Vocabulary logits for masked tokens.
    MaskedTokenHead,
    /// Frame-feature predictor for masked frames.
    FrameHead,
    /// Four-way rotation classifier.
    RotationHead,
}

impl Capability {
    /// The snake_case name used in configs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Capability::TextEncoder => "text_encoder",
            Capability::VideoEncoder => "video_encoder",
            Capability::CrossEncoder => "cross_encoder",
            Capability::Retrieval => "retrieval",
            Capability::MaskedTokenHead => "masked_token_head",
            Capability::FrameHead => "frame_head",
            Capability::RotationHead => "rotation_head",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
