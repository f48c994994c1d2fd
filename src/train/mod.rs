//! Fine-tuning with a learned loss: the run file, the loop, checkpoints and
//! text-to-video retrieval evaluation (the paper's experiment on the
//! built-in world).

pub mod bench;
mod checkpoint;
pub mod compare;
mod config;
mod retrieval;
mod task_model;
mod trainer;

pub use checkpoint::{Checkpoint, RunPosition};
pub use config::{config_diff, TrainConfig, PRESETS};
pub use retrieval::{evaluate, metrics, ranks, Retrieval};
pub use task_model::TaskModel;
pub use trainer::{
    default_out_dir, peak_rss_mib, starting_backbone, EpochReport, Event, RunSummary, Trainer,
};
