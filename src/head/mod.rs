//! The MELTR head (Meta Loss Transformer, docs/design.md §1) and its weights.

mod combinator;
#[cfg_attr(feature = "cuda", allow(dead_code))]
mod host;
mod init;
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod network;
mod preset;
mod weights;

pub use combinator::{Meltr, Output};
pub use init::init_weights;
pub use network::{Dev, HeadGrads};
pub use preset::{check_num_tasks, Dims, Preset, HEADS, MAX_TASKS};
pub use weights::{param_shapes, HeadInfo, HeadWeights, PARAM_NAMES};
