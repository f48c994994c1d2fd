//! The sandboxed viewer: loads an exported head (see [`crate::export`]) in
//! wasmtime and draws what it learned (DESIGN §4).
//!
//! * [`SandboxedHead`] — the artifact in a sandbox with no imports, fuel per
//!   call and a memory cap ([`Limits`]).
//! * [`report`] — the paper's analyses as SVG plots and an `index.html`.

mod sandbox;

pub use sandbox::{InputError, Limits, Metadata, SandboxedHead};
