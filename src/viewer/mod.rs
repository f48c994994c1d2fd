//! The sandboxed viewer: loads an exported head (see [`crate::export`]) in
//! wasmtime and draws what it learned (docs/design.md §4).
//!
//! * [`SandboxedHead`] — the artifact in a sandbox with no imports, fuel per
//!   call and a memory cap ([`Limits`]).
//! * [`analysis`] — the numbers of the paper's figures 3 and 7.
//! * [`TrainingLog`] — per-task weights over training (figure 4).
//! * [`write_report`] — SVG figures, `report.json` and an `index.html`
//!   whose live part runs the head's own core module in the browser.

pub mod analysis;
mod core_module;
mod page;
mod plot;
mod report;
mod sandbox;
mod training_log;

pub use report::{write_report, Report, ReportOptions};
pub use sandbox::{InputError, Limits, Metadata, SandboxedHead, MAX_STRING_BYTES};
pub use training_log::TrainingLog;
