//! The `meltr` command-line tool: a thin front end over the `meltr` library.

use clap::{Parser, Subcommand};

#[cfg(feature = "viewer")]
mod export;
#[cfg(feature = "viewer")]
mod view;

/// MELTR: fine-tune with many losses and learn how to combine them.
#[derive(Debug, Parser)]
#[command(name = "meltr", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Export a head to a WebAssembly component.
    #[cfg(feature = "viewer")]
    Export(export::ExportArgs),
    /// View an exported head in a sandbox: plots and an index.html.
    #[cfg(feature = "viewer")]
    View(view::ViewArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        #[cfg(feature = "viewer")]
        Command::Export(a) => export::run(a),
        #[cfg(feature = "viewer")]
        Command::View(a) => view::run(a),
    };
    if let Err(e) = result {
        // One line, no backtrace: user mistakes are not crashes.
        let msg = format!("{e}").replace('\n', "; ");
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}
