//! The MELTR head (Meta Loss Transformer, docs/design.md §1) and its weights.

mod combinator;
mod dropout;
mod engine;
#[cfg_attr(feature = "cuda", allow(dead_code))]
mod host;
mod init;
mod layout;
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod network;
mod preset;
mod weights;

pub use combinator::{Meltr, Output};
pub use engine::HeadGrads;
pub use init::init_weights;
/// For the exporter's test of where each tensor lies.
#[cfg(all(test, feature = "viewer"))]
pub(crate) use layout::marked;
pub use layout::{HeadLayout, Param, NUM_PARAMS, PARAM_NAMES};

pub use preset::{Dims, Preset, HEADS};
pub use weights::{HeadInfo, HeadWeights};
