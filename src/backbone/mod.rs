//! The reference backbone: a small video-text model in dfdx, with every
//! parameter in one flat vector so that the hypergradient engine can treat
//! `w` as a point in `R^P`.
//!
//! What the engine calls:
//! * [`VideoText::params`], [`VideoText::set_params`], [`VideoText::add_scaled`]: `w`, and `w ± εv` in place;
//! * [`VideoText::net_taped`] / [`VideoText::net_at`]: forward passes with and without a tape;
//! * [`Net::gradient`]: `∇_w` of a taped loss as a [`ParamVec`];
//! * [`ParamVec::dot`], [`ParamVec::axpy`], [`ParamVec::norm`]: vector algebra on the device;
//! * [`crate::aux_task::TaskSet`]: the K task losses, taped or tape-free, with per-task seeds.
//!
//! The device is [`Dev`], dfdx's `AutoDevice` (the CPU, or CUDA with `--features cuda`).
//!
//! ```
//! use meltr::backbone::{BackboneConfig, VideoText};
//! use meltr::world::World;
//! use dfdx::prelude::*;
//! let model = VideoText::new(BackboneConfig::default(), 0);
//! let batch = World::new(0).pretrain_batch(0, 4);
//! let net = model.net_taped();
//! let e = net.text_embedding(&batch.tokens);   // (4, D_MODEL), unit rows
//! let loss = e.sum::<Rank0, _>();
//! let g = net.gradient(loss);
//! assert_eq!(g.len(), model.num_params());
//! ```

mod checkpoint;
mod layout;
mod model;
mod net;

pub use crate::tensor::{Dev, ParamVec};
pub use layout::{Layout, Placed};
pub use model::{BackboneConfig, VideoText};
pub use net::{cross_text_row, cross_video_row, Free, Loss, Net, Rows, Taped, CROSS_LEN};

/// Width of every token representation.
pub const D_MODEL: usize = 32;
/// Attention heads per layer.
pub const HEADS: usize = 2;
/// Feed-forward width of each encoder layer.
pub const FF_WIDTH: usize = 64;
/// Rotation classes (0°, 90°, 180°, 270°).
pub const ROTATIONS: usize = 4;
