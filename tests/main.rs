//! The library's integration tests, one module per concern, built as one
//! test binary: each binary links the whole library with its viewer
//! (~120 MB), and linking twenty of them was minutes of every fresh
//! `cargo test` (docs/design.md §8). Run one concern with
//! `cargo test --test integration head_reference::`.

mod common;
#[cfg(feature = "viewer")]
mod export_support;

mod combinator_props;
mod config_registry;
mod custom_task;
mod data_parallel;
mod export_agreement;
mod export_reference;
mod fuzz_regressions;
mod head_reference;
mod hypergrad_exact;
mod hypergrad_nonfinite;
mod hypergrad_reference;
mod module_order;
mod net_gradients;
mod readme;
mod tasks_and_runs;
mod viewer_copy_bound;
mod viewer_hostile;
mod viewer_report;
mod warm_start;
mod weights_io;
