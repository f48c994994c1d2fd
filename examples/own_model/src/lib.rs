//! Bring your own model to meltr: a dfdx MLP of our own ([`OwnMlp`],
//! backbone kind `own_mlp`) and a task of our own ([`Consistency`], task
//! `consistency`), trained by `meltr train` from `run.toml` together with
//! the built-in `classify` and `mixup` tasks (`src/main.rs` is `meltr` with
//! this crate linked).
//!
//! Linking this crate registers the kind and the task (`inventory`), so run
//! files, backbone files and checkpoints find them by name.

mod consistency;
mod model;

pub use consistency::Consistency;
pub use model::{
    Arch, MlpModule, MlpNet, Model, ModelModule, OwnMlp, CLASSES, FEATURES, KIND, PROJECTED,
};

// The tasks the run files name: linking them registers them.
use meltr_classify as _;
use meltr_mixup as _;
use meltr_projection_contrast as _;

/// The run file committed beside this crate.
pub fn run_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("run.toml")
}
