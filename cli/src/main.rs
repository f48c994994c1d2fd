//! The `meltr` command-line tool: parses arguments, calls the library, prints.

mod pretrain;
mod tasks;

// Link every task crate so that its `inventory::submit!` registration is seen.
use meltr_align as _;
use meltr_cmfm as _;
use meltr_cmlm as _;
use meltr_mixup as _;
use meltr_rotation as _;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// MELTR: fine-tune with many losses and learn how to combine them.
#[derive(Debug, Parser)]
#[command(name = "meltr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pretrain the reference backbone on the synthetic world.
    Pretrain(pretrain::Args),
    /// List the registered auxiliary tasks.
    Tasks(tasks::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pretrain(a) => pretrain::run(a),
        Command::Tasks(a) => tasks::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
