//! `meltr train` and `meltr eval`: fine-tune with a learned loss, and
//! measure text-to-video retrieval of a backbone.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use meltr::backbone::VideoText;
use meltr::train::{evaluate, starting_backbone, Event, TrainConfig, Trainer};
use meltr::world::{Split, World};
use std::path::PathBuf;

/// Arguments of `meltr train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A run file (TOML); see `meltr::train::TrainConfig`.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A built-in run: quick (default), few (128 training examples) or tiny.
    #[arg(long)]
    preset: Option<String>,
    /// A pretrained backbone checkpoint (overrides the run file's).
    #[arg(long)]
    backbone: Option<PathBuf>,
    /// Output folder: log.jsonl, checkpoint, head, backbone, summary.
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Arguments of `meltr eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A backbone checkpoint (e.g. `runs/latest/backbone.safetensors`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Which split: test (default) or val.
    #[arg(long, default_value = "test")]
    split: String,
    /// Seed of the world (the data).
    #[arg(long, default_value_t = 0)]
    world_seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut config = match (&a.config, &a.preset) {
        (Some(path), _) => TrainConfig::load(path)?,
        (None, p) => TrainConfig::preset(p.as_deref().unwrap_or("quick"))?,
    };
    if let Some(b) = &a.backbone {
        config.backbone = Some(b.clone());
    }
    let ck = a.out.join("checkpoint.safetensors");
    let mut trainer = if a.resume {
        anyhow::ensure!(ck.exists(), "--resume: no checkpoint at {}", ck.display());
        Trainer::resume(config, &ck)?
    } else {
        if !a.quiet && config.backbone.is_none() {
            eprintln!(
                "no backbone given: pretraining one ({} preset)",
                config.pretrain_preset
            );
        }
        let backbone = starting_backbone(&config).context("starting backbone")?;
        Trainer::new(config, backbone)?
    };
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    let summary = trainer.run(&a.out, |e| match e {
        Event::Step { epoch, index, of, losses } => {
            bar.set_prefix((epoch + 1).to_string());
            bar.set_length(*of as u64);
            bar.set_position(*index as u64);
            bar.set_message(format!("losses {:.3?}", losses));
        }
        Event::Epoch(r) => bar.println(format!(
            "epoch {}: {:.1}s (meta {:.1}s)  val R@1 {:.1}  test R@1 {:.1} R@5 {:.1} R@10 {:.1} MedR {}",
            r.epoch + 1,
            r.seconds,
            r.meta_seconds,
            r.val.r1,
            r.test.r1,
            r.test.r5,
            r.test.r10,
            r.test.median_rank
        )),
    })?;
    bar.finish_and_clear();
    let t = summary.final_test;
    crate::print_out(&format!(
        "test R@1 {:.1}  R@5 {:.1}  R@10 {:.1}  MedR {}  (skipped steps {}, meta steps {})\nwrote {}\n",
        t.r1,
        t.r5,
        t.r10,
        t.median_rank,
        summary.skipped_steps,
        summary.skipped_meta,
        a.out.display()
    ));
    Ok(())
}

pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let split = match a.split.as_str() {
        "test" => Split::Test,
        "val" => Split::Val,
        other => anyhow::bail!("--split {other}: expected test or val"),
    };
    let model = VideoText::load(&a.checkpoint)?;
    let r = evaluate(&model, &World::new(a.world_seed).split(split));
    if a.json {
        crate::print_out(&format!("{}\n", serde_json::to_string(&r)?));
    } else {
        crate::print_out(&format!(
            "R@1 {:.1}  R@5 {:.1}  R@10 {:.1}  MedR {}\n",
            r.r1, r.r5, r.r10, r.median_rank
        ));
    }
    Ok(())
}
