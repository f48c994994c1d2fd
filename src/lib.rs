//! # meltr — learn how to combine many losses
//!
//! MELTR, the Meta Loss Transformer (Ko et al., CVPR 2023): a small
//! transformer head takes the K loss values of a training step (the target
//! loss and auxiliary pretext losses) and outputs the one loss the backbone
//! is trained on; the head itself is trained by bi-level optimisation so that
//! the combined loss helps the target task.

pub mod atomic;
pub mod error;
pub mod meltr;
pub mod meta_loss;

pub use error::{Error, Result};
#[cfg(feature = "viewer")]
pub mod export;
#[cfg(feature = "viewer")]
pub mod viewer;
