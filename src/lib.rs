//! # meltr — learn how to combine many losses
//!
//! MELTR, the Meta Loss Transformer (Ko et al., CVPR 2023): a small
//! transformer head takes the K loss values of a training step (the target
//! loss and auxiliary pretext losses) and outputs the one loss the backbone
//! is trained on; the head itself is trained by bi-level optimisation so that
//! the combined loss helps the target task.

pub mod atomic;
pub mod aux_task;
pub mod backbone;
pub mod error;
pub mod hypergrad;
pub mod meltr;
pub mod meta_loss;
pub mod pretrain;
pub mod tensor;
pub mod train;
pub mod world;

pub use error::{Error, Result};

/// The tensor library, re-exported so task crates use the same version and features.
pub use dfdx;
#[cfg(feature = "viewer")]
pub mod export;
#[cfg(feature = "viewer")]
pub mod viewer;
