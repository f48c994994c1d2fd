//! Trains our own MLP on the digits from a run file, MELTR combining its
//! losses: `meltr train` for a model the `meltr` binary does not link.
//!
//! `cargo run -p meltr-example-own-model [RUN_FILE] [OUT_DIR]`
//! (defaults: this crate's `run.toml`, `runs/own_model`). A bad run file is
//! one line on stderr and exit status 1.

use meltr::train::{Event, Metrics, TrainConfig, Trainer};
use meltr_example_own_model::{run_file, OwnMlp};
use std::path::PathBuf;

fn main() {
    if let Err(e) = train() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn train() -> meltr::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let run = args.next().unwrap_or_else(run_file);
    let out = args
        .next()
        .unwrap_or_else(|| PathBuf::from("runs/own_model"));
    let config = TrainConfig::load(&run)?;
    let mut trainer = Trainer::new(config, Box::new(OwnMlp::new(0)))?;
    let summary = trainer.run(&out, |e| {
        if let Event::Epoch(r) = e {
            if let Some(v) = &r.val {
                let (name, value) = v.headline();
                println!(
                    "epoch {:>3}: losses {:?}, val {name} {value:.1}",
                    r.epoch + 1,
                    r.mean_losses
                );
            }
        }
    })?;
    if let Metrics::Classification(c) = summary.final_test {
        println!("test accuracy: {:.1} %", c.accuracy);
    }
    println!("run written to {}", out.display());
    Ok(())
}
