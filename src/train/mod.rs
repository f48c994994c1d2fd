//! Fine-tuning with a learned loss: the run file, the loop, the one
//! training step, checkpoints and evaluation in the data set's metric
//! (the paper's experiment on the built-in domains). Written against
//! [`crate::backbone::Backbone`] and [`crate::dataset::Dataset`]: it names
//! no model and no data set.

mod checkpoint;
mod checkpointer;
mod config;
mod evaluate;
mod observer;
pub mod pretrain;
mod rank_check;
mod recipe;
mod run_file;
mod run_log;
mod seeds;
mod sharded;
mod skip_policy;
pub mod step;
mod stepper;
mod tally;
mod task_model;
pub mod tensorboard;
mod trainer;

pub use checkpoint::{Checkpoint, RunPosition};
pub use checkpointer::{CheckpointPolicy, Checkpointer};
pub use config::{config_diff, Spec, TrainConfig, TRAIN_PRESETS};
pub use evaluate::{evaluate, metrics, ranks, Classification, Metrics, Retrieval};
pub use observer::{Event, Observer, Observers, Progress, StepAt};
pub use rank_check::RankCheck;
pub use recipe::{lr_factor, ClipMode, LrSchedule, OptimizerConfig};
pub use run_file::RunFile;
pub use run_log::RunLog;
pub(crate) use seeds::Seeds;
pub use sharded::{Examples, Sharded};
pub(crate) use skip_policy::SkipPolicy;
pub use step::{backbone_step, StepOutcome};
pub(crate) use stepper::Stepper;
pub(crate) use tally::Means;
pub use tally::WeightHealth;
pub use task_model::TaskModel;
pub use trainer::{
    default_out_dir, peak_rss_mib, starting_backbone, EpochReport, RunSummary, Trainer,
};
