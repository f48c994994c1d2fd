//! `meltr`: the command-line front end. It parses arguments, calls the
//! library, and prints what it returns; a user mistake ends with a one-line error and exit
//! code 2, never a panic.

mod head;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Fine-tune with many losses and learn how to combine them (MELTR).
#[derive(Parser)]
#[command(name = "meltr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, inspect and differentiate a MELTR head.
    #[command(subcommand)]
    Head(head::HeadCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Head(c) => head::run(c),
    };
    match result {
        Ok(text) => {
            // A closed pipe (`meltr ... | head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
