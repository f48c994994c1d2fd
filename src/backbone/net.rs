//! [`Net`]: the parts of a backbone that tasks read, at one parameter
//! vector, with or without a gradient tape.
//!
//! Every method is generic over the tape through the trait's parameter, so
//! a task writes its loss once, as a function generic over `T`, and calls
//! it with a `&dyn Net<Taped>` (training) or a `&dyn Net<Free>` (the
//! engine's tape-free passes). A part the backbone does not have answers
//! [`Error::MissingPart`] (the default of every method); the task set turns
//! that into an error naming the task.
//!
//! Outputs are row matrices `(examples, width)` with the width known at run
//! time ([`Feats`]), so tasks need no model's constants.

use super::{Capability, Dev, Text, Visual};
use crate::error::{Error, Result};
use dfdx::prelude::*;

/// The tape of a forward pass that will be differentiated.
pub type Taped = OwnedTape<f32, Dev>;
/// No tape: a forward pass that records nothing.
pub type Free = NoneTape;
/// A scalar loss.
pub type Loss<T> = Tensor<Rank0, f32, Dev, T>;
/// Row vectors `(rows, width)`, both sizes known at run time.
pub type Feats<T> = Tensor<(usize, usize), f32, Dev, T>;

fn missing<X>(part: Capability) -> Result<X> {
    Err(Error::MissingPart { part })
}

/// The parts of a backbone; see the module docs. Each method names the
/// [`Capability`] a task declares for it.
pub trait Net<T: Tape<f32, Dev>> {
    /// The device the tensors live on.
    fn dev(&self) -> &Dev;

    /// [`Capability::VisualEncoder`]: one pooled feature row per example
    /// of images or clips.
    fn visual_features(&self, visual: &Visual) -> Result<Feats<T>> {
        let _ = visual;
        missing(Capability::VisualEncoder)
    }

    /// [`Capability::TextEncoder`]: one pooled feature row per caption.
    fn text_features(&self, text: &Text) -> Result<Feats<T>> {
        let _ = text;
        missing(Capability::TextEncoder)
    }

    /// [`Capability::Retrieval`]: unit-length embeddings of images or clips,
    /// in the space of [`Net::text_embedding`].
    fn visual_embedding(&self, visual: &Visual) -> Result<Feats<T>> {
        let _ = visual;
        missing(Capability::Retrieval)
    }

    /// [`Capability::Retrieval`]: unit-length caption embeddings.
    fn text_embedding(&self, text: &Text) -> Result<Feats<T>> {
        let _ = text;
        missing(Capability::Retrieval)
    }

    /// [`Capability::Classifier`]: class logits `(examples, classes)`.
    fn class_logits(&self, visual: &Visual) -> Result<Feats<T>> {
        let _ = visual;
        missing(Capability::Classifier)
    }

    /// [`Capability::RotationHead`]: logits `(examples, 4)` of the quarter
    /// turn (0°, 90°, 180°, 270°) applied to each example's images.
    fn rotation_logits(&self, visual: &Visual) -> Result<Feats<T>> {
        let _ = visual;
        missing(Capability::RotationHead)
    }

    /// [`Capability::CrossEncoder`] and [`Capability::MaskedTokenHead`]:
    /// vocabulary logits `(positions.len(), vocab)` at the listed caption
    /// positions (`example * text.len + token`) of `masked`, read together
    /// with the visual input.
    fn masked_token_logits(
        &self,
        masked: &Text,
        visual: &Visual,
        positions: &[usize],
    ) -> Result<Feats<T>> {
        let _ = (masked, visual, positions);
        missing(Capability::MaskedTokenHead)
    }

    /// [`Capability::CrossEncoder`] and [`Capability::FrameHead`]: for every
    /// frame with `masked[example * frames + frame]` (in that order), the
    /// feature predicted from the caption and the clip with those frames
    /// masked, and the true frame feature (a constant target).
    fn masked_frame_prediction(
        &self,
        text: &Text,
        visual: &Visual,
        masked: &[bool],
    ) -> Result<(Feats<T>, Feats<Free>)> {
        let _ = (text, visual, masked);
        missing(Capability::FrameHead)
    }

    /// [`Capability::PixelDecoder`]: every pixel of every image predicted
    /// from the input with the pixels where `masked` (one flag per pixel
    /// value of `visual`) hidden; `(examples, values per example)`.
    fn masked_pixel_prediction(&self, visual: &Visual, masked: &[bool]) -> Result<Feats<T>> {
        let _ = (visual, masked);
        missing(Capability::PixelDecoder)
    }
}
