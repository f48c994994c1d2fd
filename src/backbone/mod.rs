//! The backbone interface: what tasks, the trainer, evaluation, checkpoints
//! and benchmarks are written against (design §3).
//!
//! A backbone is a model whose parameters `w` are one flat [`ParamVec`]
//! (named blocks described by a [`Layout`]). It evaluates at any `w`, with
//! a gradient tape ([`Backbone::net_taped`], then [`TapedNet::gradient`])
//! or without one ([`Backbone::net_free`]: the engine's passes at `w ± εv`),
//! and it serves *parts* through [`Net`]: visual and text features,
//! retrieval embeddings, class logits, token and frame decoders ([`parts`]),
//! and any [`Part`] another crate defines. Each task says which parts it
//! reads ([`PartId`]); a backbone that lacks one is refused with an error
//! naming the task and the part.
//!
//! Two backbones are built in (`meltr::domains`): the video-text model
//! and an image classifier. A model of your own implements [`Backbone`] and
//! [`Net`]; [`FlatParams`] cuts named blocks out of the flat vector on a
//! tape, and [`ModuleParams`] does the same for a dfdx module.
//!
//! ```
//! use meltr::backbone::{backbone_from_kind, parts::VisualEmbedding, PartId};
//! use meltr::dataset::{dataset_by_name, Split};
//! use meltr::dfdx::prelude::*;
//! let model = backbone_from_kind("video_text", &serde_json::Value::Null, 0).unwrap();
//! let data = dataset_by_name("video_text", 0).unwrap();
//! let batch = data.batch(Split::Train, &[0, 1, 2, 3]);
//! let net = model.net_taped(model.params());
//! let e = net.part::<VisualEmbedding>(batch.visual().unwrap()).unwrap(); // (4, d), unit rows
//! let g = net.gradient(e.sum::<Rank0, _>());
//! assert_eq!(g.len(), model.layout().num_params());
//! assert!(model.provides().contains(&PartId::of::<VisualEmbedding>()));
//! ```

mod batch;
mod file;
mod flat;
mod layout;
mod module;
mod net;
mod part;
pub mod parts;
mod registry;

pub use batch::{Batch, Labels, Text, Visual};
pub use file::{backbone_from_bytes, backbone_to_bytes, load_backbone, save_backbone, FORMAT};
pub use flat::{BlockIndices, BufferCache, FlatParams};
pub use layout::{Layout, Placed};
pub use module::ModuleParams;
pub use net::{AnyTape, Feats, Free, Loss, Net, Taped};
pub use part::{Part, PartArgs, PartId, PartList, Request};
pub use registry::{backbone_from_kind, find_backbone, registered_backbones, BackboneRegistration};

use crate::error::Result;
use crate::tensor::ParamVec;

/// A model with flat parameters and named parts; see the module docs.
///
/// Object-safe: the trainer holds a `Box<dyn Backbone>`. Not `Send`: a
/// CUDA device handle may not leave its thread.
pub trait Backbone: std::fmt::Debug {
    /// The registered kind (`video_text`, `image_resnet`, ...): what a
    /// backbone file records so that it is read back as the same model.
    fn kind(&self) -> &str;

    /// The settings it was built from (e.g. which optional heads), recorded
    /// in backbone files and checkpoints; [`backbone_from_kind`] takes them back.
    fn config(&self) -> serde_json::Value;

    /// The parts it serves: by default, those a tape-free net at its
    /// parameters serves (a census of [`Net::provide`]).
    fn provides(&self) -> Vec<PartId> {
        self.net_free(self.params()).parts()
    }

    /// Names, shapes and offsets of its parameter blocks.
    fn layout(&self) -> &Layout;

    /// The parameters `w`.
    fn params(&self) -> &ParamVec;

    /// The parameters, mutably (for optimisers; keep the length).
    fn params_mut(&mut self) -> &mut ParamVec;

    /// Replaces the parameters; errors on a wrong length or a non-finite value.
    fn set_params(&mut self, w: ParamVec) -> Result<()> {
        w.check("backbone parameters", self.layout().num_params())?;
        *self.params_mut() = w;
        Ok(())
    }

    /// A forward pass at `w` that records a tape (the model's own parameters are untouched).
    fn net_taped<'a>(&'a self, w: &ParamVec) -> Box<dyn TapedNet + 'a>;

    /// A forward pass at `w` that records nothing.
    fn net_free<'a>(&'a self, w: &ParamVec) -> Box<dyn Net<Free> + 'a>;

    /// Parameter blocks that `part` reads, for the task contract alone
    /// (`testing::check_task` checks that a task's gradient reaches each);
    /// training never calls it. Optional: by default none are named, and
    /// the contract checks the task's gradient as a whole.
    fn probe_blocks(&self, part: PartId) -> Vec<&str> {
        let _ = part;
        Vec::new()
    }

    /// Why a backbone file's tensor `name` has shape `found` instead of
    /// this backbone's, when one of the file's settings explains it (e.g.
    /// tensors of another width than its `width` setting): one line naming
    /// the setting and its value. `None` by default: the loader's error
    /// then names the tensor.
    fn explain_shape(&self, name: &str, found: &[usize]) -> Option<String> {
        let _ = (name, found);
        None
    }

    /// Called once after every step: a backbone that caches device buffers
    /// frees them here now and then. Does nothing by default.
    fn release_buffers(&self) {}

    /// Frees every cached buffer now. Called after a meta step, whose
    /// passes have other shapes than a step's: kept, their buffers would
    /// stay cached beside the step's (docs/design.md §8). Does nothing by
    /// default.
    fn release_all_buffers(&self) {}
}

/// A taped forward pass: [`Net`] plus the gradient of a loss it produced.
pub trait TapedNet: Net<Taped> {
    /// `∇_w loss` as a flat vector (zero where the loss reads no parameter).
    fn gradient(&self, loss: Loss<Taped>) -> ParamVec;
}

impl dyn TapedNet + '_ {
    /// [`Net::part`] of a taped pass.
    pub fn part<P: Part>(&self, args: <P::Args as PartArgs>::Refs<'_>) -> Result<P::Output<Taped>> {
        let net: &dyn Net<Taped> = self;
        net.part::<P>(args)
    }
}
