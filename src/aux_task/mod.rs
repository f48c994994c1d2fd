//! Auxiliary tasks: the [`AuxTask`] trait, the registry, and [`TaskSet`],
//! which evaluates K tasks over a backbone for the trainer and the
//! hypergradient engine.
//!
//! A task turns a [`Batch`] into one scalar loss using the parts of the
//! backbone it reads ([`Net`]), and says which parts those are
//! ([`AuxTask::needs`]); it imports no model and no data set. Every
//! stochastic choice it makes (masks, mixing coefficients, rotation angles,
//! negatives) is drawn from the `seed` it is given and from nothing else,
//! so the engine can evaluate it at `w + εv` and `w − εv` with identical
//! randomness. It provides the loss twice: taped (to be differentiated) and
//! tape-free (recording nothing); write it once, generic over the tape, and
//! call it from both:
//!
//! ```
//! use meltr::aux_task::{AuxTask, Capability, TaskRegistration};
//! use meltr::backbone::{Batch, Dev, Free, Loss, Net, Taped};
//! use meltr::dfdx::prelude::*;
//!
//! /// Pulls pooled visual features towards zero... a toy task.
//! #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Shrink {}
//!
//! impl Shrink {
//!     fn loss<T: Tape<f32, Dev>>(&self, net: &dyn Net<T>, batch: &Batch) -> meltr::Result<Loss<T>> {
//!         Ok(net.visual_features(batch.visual()?)?.square().mean())
//!     }
//! }
//!
//! #[typetag::serde(name = "shrink")]
//! impl AuxTask for Shrink {
//!     fn name(&self) -> &str { "shrink" }
//!     fn needs(&self) -> Vec<Capability> { vec![Capability::VisualEncoder] }
//!     fn loss_taped(&self, net: &dyn Net<Taped>, b: &Batch, _seed: u64) -> meltr::Result<Loss<Taped>> {
//!         self.loss(net, b)
//!     }
//!     fn loss_free(&self, net: &dyn Net<Free>, b: &Batch, _seed: u64) -> meltr::Result<Loss<Free>> {
//!         self.loss(net, b)
//!     }
//! }
//! inventory::submit!(TaskRegistration::of::<Shrink>("shrink", "toy: shrink visual features"));
//!
//! let task = meltr::aux_task::build_task("shrink", &toml::Value::Table(Default::default())).unwrap();
//! assert_eq!(task.name(), "shrink");
//! ```

mod capability;
mod contrastive;
mod registry;
mod set;
pub mod testing;

pub use capability::Capability;
pub use contrastive::{info_nce, soft_cross_entropy, symmetric_info_nce, Logits};
pub use registry::{
    build_task, find_task, from_config, registered_tasks, tasks_from_toml, TaskRegistration,
};
pub use set::{task_seed, TapedLosses, TaskSet};

use crate::backbone::{Batch, Free, Loss, Net, Taped};
use crate::error::Result;

/// The random generator a task draws its choices from: a pure function of `seed`.
pub fn task_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// An auxiliary (or primary) task: a scalar loss of a backbone on a batch.
///
/// Object-safe; `Box<dyn AuxTask>` (de)serialises through typetag as a
/// table whose `type` is the task's registered name. Implementations should
/// use `#[serde(deny_unknown_fields)]` so that a misspelt setting is an
/// error naming it.
#[typetag::serde(tag = "type")]
pub trait AuxTask: std::fmt::Debug + Send + Sync {
    /// The registered name (the run file's `type`).
    fn name(&self) -> &str;

    /// The parts of the backbone the loss reads (checked before the first
    /// step, so that a backbone without them is refused by name).
    fn needs(&self) -> Vec<Capability>;

    /// The loss, recorded on the tape for a backward pass. All randomness
    /// comes from `seed`.
    fn loss_taped(&self, net: &dyn Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>>;

    /// The same loss with no tape; equal to [`AuxTask::loss_taped`]'s value for the same arguments.
    fn loss_free(&self, net: &dyn Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>>;
}
