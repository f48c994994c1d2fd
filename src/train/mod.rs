//! Fine-tuning with a learned loss: the run file, the loop, the one
//! training step, checkpoints and evaluation in the data set's metric
//! (the paper's experiment on the built-in domains). Written against
//! [`crate::backbone::Backbone`] and [`crate::dataset::Dataset`]: it names
//! no model and no data set.

pub mod bench;
mod checkpoint;
mod config;
mod evaluate;
mod recipe;
mod step;
mod task_model;
pub mod tensorboard;
mod trainer;

pub use checkpoint::{Checkpoint, RunPosition};
pub use config::{config_diff, TrainConfig, PRESETS};
pub use evaluate::{evaluate, metrics, ranks, Classification, Metrics, Retrieval};
pub use recipe::{lr_factor, ClipMode, LrSchedule, OptimizerConfig};
pub use step::{backbone_step, StepOutcome, StepTimes};
pub use task_model::TaskModel;
pub use trainer::{
    default_out_dir, peak_rss_mib, starting_backbone, EpochReport, Event, RunSummary, Trainer,
    WeightHealth,
};
