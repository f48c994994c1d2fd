//! The built-in parts: the outputs the built-in backbones serve and the
//! built-in tasks read. Outputs are row matrices `(examples, width)` with
//! the width known at run time ([`Feats`]), so tasks need no model's
//! constants.

use super::{AnyTape, Feats, Free, Part, Text, Visual};

macro_rules! part {
    ($(#[$doc:meta])* $name:ident = $text:literal, $args:ty => $out:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Part for $name {
            const NAME: &'static str = $text;
            type Args = $args;
            type Output<T: AnyTape> = $out<T>;
        }
    };
}

part!(
    /// One pooled feature row per example of images or clips.
    VisualFeatures = "visual_features", Visual => Feats
);
part!(
    /// One pooled feature row per caption.
    TextFeatures = "text_features", Text => Feats
);
part!(
    /// Unit-length embeddings of images or clips, in the space of [`TextEmbedding`].
    VisualEmbedding = "visual_embedding", Visual => Feats
);
part!(
    /// Unit-length caption embeddings, in the space of [`VisualEmbedding`].
    TextEmbedding = "text_embedding", Text => Feats
);
part!(
    /// Class logits `(examples, classes)`.
    ClassLogits = "class_logits", Visual => Feats
);
part!(
    /// Logits `(examples, 4)` of the quarter turn (0°, 90°, 180°, 270°)
    /// applied to each example's images.
    RotationLogits = "rotation_logits", Visual => Feats
);
part!(
    /// Vocabulary logits `(positions.len(), vocab)` at the listed caption
    /// positions (`example * text.len + token`) of the masked captions,
    /// read together with the visual input: arguments `(masked, visual,
    /// positions)`.
    MaskedTokenLogits = "masked_token_logits", (Text, Visual, Vec<usize>) => Feats
);
part!(
    /// Every pixel of every image predicted from the input with the pixels
    /// where the mask (one flag per pixel value) is set hidden; `(examples,
    /// values per example)`. Arguments `(visual, mask)`.
    MaskedPixelPrediction = "masked_pixel_prediction", (Visual, Vec<bool>) => Feats
);

/// For every frame with `masked[example * frames + frame]` (in that order),
/// the feature predicted from the caption and the clip with those frames
/// masked, and the true frame feature (a constant target). Arguments
/// `(text, visual, masked)`.
#[derive(Debug, Clone, Copy)]
pub struct MaskedFramePrediction;

impl Part for MaskedFramePrediction {
    const NAME: &'static str = "masked_frame_prediction";
    type Args = (Text, Visual, Vec<bool>);
    type Output<T: AnyTape> = (Feats<T>, Feats<Free>);
}
