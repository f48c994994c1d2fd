//! # meltr — learn how to combine many losses
//!
//! MELTR, the Meta Loss Transformer (Ko et al., CVPR 2023): a small
//! transformer head takes the K loss values of a training step (the target
//! loss and auxiliary pretext losses) and outputs the one loss the backbone
//! is trained on; the head itself is trained by bi-level optimisation so that
//! the combined loss helps the target task. Every hypergradient is built from
//! first-order pieces (`docs/design.md` §2).
//!
//! A MELTR head combines K losses, and reports the per-task weights the
//! backbone step uses:
//!
//! ```
//! use meltr::head::{Meltr, Preset};
//! use meltr::meta_loss::MetaLoss;
//! let head = Meltr::init(Preset::Allinone, 3, 0).unwrap();
//! let e = head.eval(&[2.3, 0.7, 1.1]).unwrap(); // f(l) and ∂f/∂l
//! assert!(e.value.is_finite() && e.weights.len() == 3);
//! ```
//!
//! The layout follows the design document: the generic core —
//! [`backbone`] (the backbone interface), [`dataset`], [`aux_task`] (tasks
//! and their registry), [`meta_loss`] (combinators), [`head`] (the MELTR
//! head), [`hypergrad`] (the first-order hypergradient engine) and
//! [`train`] (the trainer and pretraining) — names no model and no data
//! set; the built-in ones live in [`domains`], each backbone with its data.
//! Each module uses only the ones before it in that order
//! (`tests/module_order.rs`).

#![warn(missing_docs)]

pub mod atomic;
pub mod aux_task;
pub mod backbone;
mod checksum;
pub mod dataset;
pub mod distributed;
pub mod domains;
pub mod error;
pub mod head;
pub mod hypergrad;
pub mod meta_loss;
pub mod prelude;
pub mod tensor;
#[cfg(feature = "testing")]
pub mod testing;
pub mod train;

pub use error::{Error, Result};

/// The tensor library, re-exported so task crates use the same version and features.
pub use dfdx;
#[doc(hidden)]
pub use inventory;
/// Re-exported for task crates: `#[serde(crate = "meltr::serde")]` on a
/// task's settings, and what [`register_task!`] expands to.
pub use serde;
#[cfg(feature = "viewer")]
pub mod export;
#[cfg(feature = "viewer")]
pub mod viewer;
