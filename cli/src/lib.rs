//! The `meltr` command-line tool: parses arguments, calls the library,
//! prints. A user mistake ends with a one-line error and exit code 2, never
//! a panic.
//!
//! Tasks and models are plugins linked into the binary, not loaded at run
//! time: `meltr` is [`main`] with the built-in task crates linked, and a
//! researcher's own `meltr` is the same function in a binary that also
//! links their crates (`examples/own_model/src/main.rs`), so `train`,
//! `compare` and every other command find their tasks and models by name.

mod bench;
mod compare;
#[cfg(feature = "viewer")]
mod export;
mod head;
mod pretrain;
mod tasks;
mod train;
#[cfg(feature = "viewer")]
mod view;

// Link every task crate so that its `inventory::submit!` registration is seen.
use meltr_align as _;
use meltr_classify as _;
use meltr_cmfm as _;
use meltr_cmlm as _;
use meltr_masked_pixels as _;
use meltr_mixup as _;
use meltr_noise_labels as _;
use meltr_rotation as _;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// MELTR: fine-tune with many losses and learn how to combine them.
#[derive(Debug, Parser)]
#[command(name = "meltr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Threads for the matrix products: a number, or auto (one for steps
    /// of fewer than 512 examples, every core from 512).
    #[arg(long, global = true, default_value = "auto", value_parser = parse_threads)]
    threads: Threads,
}

/// `--threads`: auto (`None`) or a count of at least one.
#[derive(Debug, Clone, Copy)]
struct Threads(Option<usize>);

fn parse_threads(s: &str) -> Result<Threads, String> {
    match s {
        "auto" => Ok(Threads(None)),
        _ => match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Threads(Some(n))),
            _ => Err(format!("`{s}`: a number of threads (1 or more) or auto")),
        },
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, inspect and differentiate a MELTR head.
    #[command(subcommand)]
    Head(head::HeadCommand),
    /// Pretrain a backbone on a data set's pretraining stream.
    Pretrain(pretrain::Args),
    /// Fine-tune with a learned loss (the main job).
    Train(train::TrainArgs),
    /// Score a backbone file in its data set's metric (retrieval or accuracy).
    Eval(train::EvalArgs),
    /// Compare ways of combining the losses (the paper's table 8).
    Compare(compare::Args),
    /// List the registered auxiliary tasks.
    Tasks(tasks::Args),
    /// Time a training step, a meta step and the heads on this device.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Export a head to a WebAssembly component (wit/head.wit).
    #[cfg(feature = "viewer")]
    Export(export::ExportArgs),
    /// View an exported head in a sandbox: plots and an index.html.
    #[cfg(feature = "viewer")]
    View(view::ViewArgs),
}

/// Prints `text` to stdout; a closed pipe (`meltr ... | head`) is not an error.
pub fn print_out(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}

/// Runs the command line of this process (`std::env::args`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Auto is decided where a command knows its batch size.
    if let Some(Err(e)) = cli.threads.0.map(meltr::tensor::threads::use_threads) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Head(c) => head::run(c).map(|text| print_out(&text)),
        Command::Pretrain(a) => pretrain::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => train::eval(a),
        Command::Compare(a) => compare::run(a),
        Command::Tasks(a) => tasks::run(a),
        Command::Bench(c) => bench::run(c).map(|text| print_out(&text)),
        #[cfg(feature = "viewer")]
        Command::Export(a) => export::run(&a),
        #[cfg(feature = "viewer")]
        Command::View(a) => view::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
