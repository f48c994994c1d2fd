//! The command-line tool's end-to-end tests, one module per concern, built
//! as one test binary: each binary links the whole library with its viewer
//! (~120 MB), and linking one per file was minutes of every fresh
//! `cargo test` (docs/design.md §8). Run one concern with
//! `cargo test -p meltr-cli --test cli cli_train::`. The MPI tests need
//! `mpirun` and the `mpi` feature and stay a binary of their own
//! (`--test distributed_mpi`).

mod common;

mod browser_page;
mod cli_export_view;
mod cli_head;
mod cli_train;
mod corrupted_files;
mod crash_resume;
mod data_parallel_tasks;
mod finite_difference;
mod pretrain_cli;
mod tensorboard_events;
