//! Auxiliary tasks: the [`AuxTask`] trait, the registry, and [`TaskSet`],
//! which evaluates K tasks over the backbone for the trainer and the
//! hypergradient engine.
//!
//! A task turns a batch into one scalar loss using the backbone's
//! [`Net`]. Every stochastic choice it makes (masks, mixing coefficients,
//! rotation angles, negatives) is drawn from the `seed` it is given and from
//! nothing else, so the engine can evaluate it at `w + εv` and `w − εv`
//! with identical randomness. It provides the loss twice: taped (to be
//! differentiated) and tape-free (recording nothing); write it once,
//! generic over the tape, and call it from both:
//!
//! ```
//! use meltr::aux_task::{AuxTask, Capability, TaskRegistration};
//! use meltr::backbone::{Free, Loss, Net, Taped};
//! use meltr::world::{Batch, MAX_TOKENS};
//! use dfdx::prelude::*;
//!
//! /// Pulls caption embeddings towards unit length... a toy task.
//! #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct TextSpread {}
//!
//! impl TextSpread {
//!     fn loss<T: Tape<f32, meltr::backbone::Dev>>(&self, net: &Net<T>, batch: &Batch) -> Loss<T> {
//!         let h = net.pool(net.encode_text(&batch.tokens), MAX_TOKENS);
//!         h.square().mean::<Rank0, _>()
//!     }
//! }
//!
//! #[typetag::serde(name = "text_spread")]
//! impl AuxTask for TextSpread {
//!     fn name(&self) -> &str { "text_spread" }
//!     fn needs(&self) -> Vec<Capability> { vec![Capability::TextEncoder] }
//!     fn loss_taped(&self, net: &Net<Taped>, b: &Batch, _seed: u64) -> meltr::Result<Loss<Taped>> {
//!         Ok(self.loss(net, b))
//!     }
//!     fn loss_free(&self, net: &Net<Free>, b: &Batch, _seed: u64) -> meltr::Result<Loss<Free>> {
//!         Ok(self.loss(net, b))
//!     }
//! }
//! inventory::submit!(TaskRegistration::of::<TextSpread>("text_spread", "toy: shrink caption features"));
//!
//! let task = meltr::aux_task::build_task("text_spread", &toml::Value::Table(Default::default())).unwrap();
//! assert_eq!(task.name(), "text_spread");
//! ```

mod capability;
mod contrastive;
mod registry;
mod set;
pub mod testing;

pub use capability::Capability;
pub use contrastive::{info_nce, symmetric_info_nce, Logits};
pub use registry::{
    build_task, find_task, from_config, registered_tasks, tasks_from_toml, TaskRegistration,
};
pub use set::{task_seed, TapedLosses, TaskSet};

use crate::backbone::{Free, Loss, Net, Taped};
use crate::error::Result;
use crate::world::Batch;

/// The random generator a task draws its choices from: a pure function of `seed`.
pub fn task_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// An auxiliary (or primary) task: a scalar loss of the backbone on a batch.
///
/// Object-safe; `Box<dyn AuxTask>` (de)serialises through typetag as a
/// table whose `type` is the task's registered name. Implementations should
/// use `#[serde(deny_unknown_fields)]` so that a misspelt setting is an
/// error naming it.
#[typetag::serde(tag = "type")]
pub trait AuxTask: std::fmt::Debug + Send + Sync {
    /// The registered name (the run file's `type`).
    fn name(&self) -> &str;

    /// The parts of the backbone the loss reads.
    fn needs(&self) -> Vec<Capability>;

    /// The loss, recorded on the tape for a backward pass. All randomness
    /// comes from `seed`.
    fn loss_taped(&self, net: &Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>>;

    /// The same loss with no tape; equal to [`AuxTask::loss_taped`]'s value for the same arguments.
    fn loss_free(&self, net: &Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>>;
}
