//! Auxiliary tasks: the [`Task`] trait a task crate implements, the
//! registry, and [`TaskSet`], which evaluates K tasks over a backbone for
//! the trainer and the hypergradient engine.
//!
//! A task turns a [`Batch`] into one scalar loss using the parts of the
//! backbone it reads (`net.part::<P>(..)`, [`crate::backbone::parts`] or a
//! [`crate::backbone::Part`] of its own), and says which parts those are
//! ([`Task::needs`]); it imports no model and no data set. Every stochastic
//! choice it makes (masks, mixing coefficients, rotation angles, negatives)
//! is drawn from the `seed` it is given and from nothing else, so the
//! engine can evaluate it at `w + εv` and `w − εv` with identical
//! randomness. The loss is written once, generic over the tape; the
//! registry builds a task from its run-file settings and calls
//! [`Task::validate`] then, so a bad setting is refused when the run file
//! is read:
//!
//! ```
//! use meltr::prelude::*;
//!
//! /// Pulls pooled visual features towards zero... a toy task.
//! #[derive(Debug, Deserialize)]
//! #[serde(crate = "meltr::serde", deny_unknown_fields)]
//! struct Shrink {}
//!
//! impl Task for Shrink {
//!     const NAME: &'static str = "shrink";
//!     const SUMMARY: &'static str = "toy: shrink visual features";
//!     type Needs = (VisualFeatures,);
//!     fn loss<T: AnyTape>(&self, net: &dyn Net<T>, b: &Batch, _seed: u64) -> Result<Loss<T>> {
//!         Ok(net.part::<VisualFeatures>(b.visual()?)?.square().mean())
//!     }
//! }
//! register_task!(Shrink);
//!
//! let task = meltr::aux_task::build_task("shrink", &Default::default()).unwrap();
//! assert_eq!(task.name(), "shrink");
//! ```

mod contrastive;
mod coupling;
mod registry;
mod set;
mod spec;

pub use contrastive::{
    diagonal_cross_entropy, info_nce, soft_cross_entropy, symmetric_diagonal_cross_entropy,
    symmetric_info_nce, Logits,
};
pub use coupling::{gather_rows, gather_uneven_rows, mean_over_terms, whole_batch_loss, Coupling};
#[doc(hidden)]
pub use registry::submit;
pub use registry::{build_task, find_task, registered_tasks, TaskRegistration};
pub use set::{task_seed, TapedLosses, TaskSet};
pub use spec::TaskSpec;

use crate::backbone::{AnyTape, Batch, Free, Loss, Net, PartId, PartList, Taped};
use crate::error::{Error, Result};

/// The random generator a task draws its choices from: a pure function of
/// `seed`. A task draws for the whole global batch ([`Batch::global_size`]
/// examples) and keeps its own rows ([`Batch::draw`], [`Batch::own`]), so
/// that every rank draws what one process draws.
pub fn task_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// A task: a scalar loss of a backbone on a batch; see the module docs.
/// Its settings are the fields it deserialises from its run-file table
/// (`#[serde(deny_unknown_fields)]` makes a misspelt one an error naming
/// it); [`register_task!`](crate::register_task) makes it known by
/// [`Task::NAME`].
pub trait Task: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static {
    /// The registered name (the run file's `type`, or the bare name in `tasks`).
    const NAME: &'static str;
    /// One line for `meltr tasks`.
    const SUMMARY: &'static str;

    /// Whether the loss is a mean of per-example terms or couples the
    /// examples of the batch ([`Coupling`]; docs/design.md §7).
    const COUPLING: Coupling = Coupling::PerExample;

    /// The parts of the backbone the loss reads, as a tuple type:
    /// `(VisualFeatures, ClassLogits)` (checked before the first step, so
    /// that a backbone without them is refused by name).
    type Needs: PartList;

    /// The parts the loss reads with these settings: [`Task::Needs`]
    /// unless a task overrides it.
    fn needs(&self) -> Vec<PartId> {
        Self::Needs::ids()
    }

    /// Refuses settings out of range when the run file is read: an
    /// [`invalid`] error naming the field. Accepts everything by default.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The loss on either tape. All randomness comes from `seed`. On a
    /// rank's shard of the global batch, the loss must be this shard's
    /// part (docs/design.md §7): a mean of per-example terms is one,
    /// and the contrastive helpers return one.
    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>>;
}

/// The error [`Task::validate`] returns for setting `field` with `value`.
pub fn invalid(field: &str, value: impl std::fmt::Display, reason: &str) -> Error {
    Error::InvalidSetting {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// A [`Task`] as an object (what a [`TaskSet`] holds): the loss on each
/// tape as a plain method. Every `Task` is one.
pub trait AuxTask: std::fmt::Debug + Send + Sync {
    /// The registered name.
    fn name(&self) -> &str;

    /// [`Task::needs`].
    fn needs(&self) -> Vec<PartId>;

    /// [`Task::COUPLING`].
    fn coupling(&self) -> Coupling;

    /// The loss, recorded on the tape for a backward pass.
    fn loss_taped(&self, net: &dyn Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>>;

    /// The same loss with no tape; equal to [`AuxTask::loss_taped`]'s value for the same arguments.
    fn loss_free(&self, net: &dyn Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>>;
}

impl<X: Task> AuxTask for X {
    fn name(&self) -> &str {
        X::NAME
    }
    fn needs(&self) -> Vec<PartId> {
        Task::needs(self)
    }
    fn coupling(&self) -> Coupling {
        X::COUPLING
    }
    fn loss_taped(&self, net: &dyn Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &dyn Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}
