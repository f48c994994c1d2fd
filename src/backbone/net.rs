//! [`Net`]: a backbone's forward pass at one parameter vector, with or
//! without a gradient tape, serving its parts ([`super::part`]).
//!
//! Generic over the tape through the trait's parameter, so a task writes
//! its loss once, as a function generic over `T`, and calls it with a
//! `&dyn Net<Taped>` (training) or a `&dyn Net<Free>` (the engine's
//! tape-free passes). A part the net does not serve answers
//! [`Error::MissingPart`]; the task set turns that into an error naming the
//! task.

use super::part::{PartArgs, Request};
use super::Part;
use crate::error::{Error, Result};
use crate::tensor::Dev;
use dfdx::prelude::*;

/// The tape of a forward pass that will be differentiated.
pub type Taped = OwnedTape<f32, Dev>;
/// No tape: a forward pass that records nothing.
pub type Free = NoneTape;
/// The tape of a pass, [`Taped`] or [`Free`]: what [`Net`], a
/// [`Part`]'s output and a task's loss are generic over.
pub trait AnyTape: Tape<f32, Dev> + 'static {}

impl<T: Tape<f32, Dev> + 'static> AnyTape for T {}

/// A scalar loss.
pub type Loss<T> = Tensor<Rank0, f32, Dev, T>;
/// Row vectors `(rows, width)`, both sizes known at run time.
pub type Feats<T> = Tensor<(usize, usize), f32, Dev, T>;

/// A forward pass serving parts; see the module docs.
///
/// ```
/// # use meltr::backbone::*;
/// # use meltr::dfdx::prelude::*;
/// # use meltr::tensor::Dev;
/// struct Tiny(Dev);
/// impl<T: AnyTape> Net<T> for Tiny {
///     fn dev(&self) -> &Dev { &self.0 }
///     fn provide(&self, r: &mut Request<'_, T>) {
///         r.serve::<parts::VisualFeatures>(|v| {
///             Ok(self.0.tensor_from_vec(v.pixels.clone(), (v.examples(), v.example_len())).retaped())
///         });
///     }
/// }
/// let net = Tiny(meltr::tensor::device());
/// let net: &dyn Net<Free> = &net;
/// let v = Visual { pixels: vec![0.5; 8], frames: 1, channels: 1, height: 2, width: 2 };
/// assert_eq!(net.part::<parts::VisualFeatures>(&v).unwrap().shape(), &(2, 4));
/// let e = net.part::<parts::ClassLogits>(&v).unwrap_err();
/// assert!(e.to_string().contains("class_logits"));
/// ```
pub trait Net<T: AnyTape> {
    /// The device the tensors live on.
    fn dev(&self) -> &Dev;

    /// Answers `request` for each part this net has:
    /// `request.serve::<VisualFeatures>(|v| ...).serve::<ClassLogits>(|v| ...);`.
    fn provide(&self, request: &mut Request<'_, T>);
}

impl<T: AnyTape> dyn Net<T> + '_ {
    /// Part `P` of this pass, or [`Error::MissingPart`] naming it.
    pub fn part<P: Part>(&self, args: <P::Args as PartArgs>::Refs<'_>) -> Result<P::Output<T>> {
        let mut answer = None;
        self.provide(&mut Request::call::<P>(&args, &mut answer));
        answer.unwrap_or(Err(Error::MissingPart { part: P::NAME }))
    }

    /// The parts this pass serves.
    pub fn parts(&self) -> Vec<super::PartId> {
        let mut census = Request::census();
        self.provide(&mut census);
        census.served()
    }
}
