//! `meltr train` and `meltr eval`: fine-tune with a learned loss, and
//! score a backbone in its data set's metric (retrieval or accuracy).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use meltr::backbone::load_backbone;
use meltr::dataset::{dataset_by_name, registered_datasets, Split};
use meltr::train::{evaluate, starting_backbone, Event, TrainConfig, Trainer};
use std::path::PathBuf;

/// Arguments of `meltr train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A run file (TOML); see `meltr::train::TrainConfig`.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A built-in run: quick (default), few (128 training examples), tiny;
    /// digits, digits-large (500 labelled images), digits-tiny.
    #[arg(long)]
    preset: Option<String>,
    /// A pretrained backbone checkpoint (overrides the run file's).
    #[arg(long)]
    backbone: Option<PathBuf>,
    /// Output folder: log.jsonl, checkpoint, head, backbone, summary.
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint (or start it,
    /// when it was stopped before its first): the same command line can
    /// restart a run after any kill.
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
    /// The data set (default: the one made for the backbone's kind).
    #[arg(long)]
    data: Option<String>,
    /// Seed of the data set (the synthetic world's).
    #[arg(long, default_value_t = 0, alias = "world-seed")]
    data_seed: u64,
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
    // The combinator and strategy are built before any pretraining: a
    // wrong setting stops here.
    config.build()?;
    meltr::tensor::threads::use_default_threads(config.batch_size);
    let ck = a.out.join("checkpoint.safetensors");
    let mut trainer = if a.resume && ck.exists() {
        Trainer::resume(config, &ck)?
    } else {
        if a.resume && !a.quiet {
            eprintln!("no checkpoint at {}: starting the run", ck.display());
        }
        if !a.quiet && config.backbone.is_none() {
            eprintln!(
                "no backbone given: pretraining one ({} preset)",
                config.pretrain_preset
            );
        }
        let backbone = starting_backbone(&config).context("starting backbone")?;
        Trainer::new(config, backbone)?
    };
    // Under `mpirun`, one rank of a data-parallel run; rank 0 reports.
    let rank = if meltr::distributed::launched_by_mpi() {
        join_mpi(&mut trainer)?
    } else {
        0
    };
    let bar = if a.quiet || rank != 0 {
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
        Event::Step {
            epoch,
            index,
            of,
            losses,
        } => {
            bar.set_prefix((epoch + 1).to_string());
            bar.set_length(*of as u64);
            bar.set_position(*index as u64);
            bar.set_message(format!("losses {:.3?}", losses));
        }
        Event::Epoch(r) => {
            let scores = match (&r.val, &r.test) {
                (Some(v), Some(t)) => {
                    let (name, val) = v.headline();
                    format!("  val {name} {val:.1}  test {t}")
                }
                _ => String::new(),
            };
            bar.println(format!(
                "epoch {}: {:.1}s (meta {:.1}s){scores}",
                r.epoch + 1,
                r.seconds,
                r.meta_seconds,
            ))
        }
    })?;
    bar.finish_and_clear();
    if rank != 0 {
        return Ok(());
    }
    crate::print_out(&format!(
        "test {}  (skipped steps {}, meta steps {})\nwrote {}\n",
        summary.final_test,
        summary.skipped_steps,
        summary.skipped_meta,
        a.out.display()
    ));
    Ok(())
}

/// Makes `trainer` one rank of the run `mpirun` started; returns its rank.
/// A build with `nccl` reduces the gradients on the GPUs.
#[cfg(feature = "mpi")]
fn join_mpi(trainer: &mut Trainer) -> anyhow::Result<usize> {
    use meltr::distributed::Communicator;
    #[cfg(feature = "nccl")]
    let comm = meltr::distributed::Nccl::init()?;
    #[cfg(not(feature = "nccl"))]
    let comm = meltr::distributed::Mpi::init()?;
    let rank = comm.rank();
    trainer.set_communicator(Box::new(comm));
    Ok(rank)
}

#[cfg(not(feature = "mpi"))]
fn join_mpi(_: &mut Trainer) -> anyhow::Result<usize> {
    anyhow::bail!("started by mpirun, but this meltr was built without the `mpi` feature")
}

pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let split = match a.split.as_str() {
        "test" => Split::Test,
        "val" => Split::Val,
        other => anyhow::bail!("--split {other}: expected test or val"),
    };
    let model = load_backbone(&a.checkpoint)?;
    let name = match &a.data {
        Some(d) => d.clone(),
        None => registered_datasets()
            .into_iter()
            .map(|r| r.name)
            .find(|&n| {
                dataset_by_name(n, a.data_seed).is_ok_and(|d| d.backbone_kind() == model.kind())
            })
            .with_context(|| {
                format!(
                    "no data set made for a `{}` backbone: give --data",
                    model.kind()
                )
            })?
            .to_string(),
    };
    let data = dataset_by_name(&name, a.data_seed)?;
    let r = evaluate(&*model, &*data, split, None)?;
    if a.json {
        crate::print_out(&format!("{}\n", serde_json::to_string(&r)?));
    } else {
        crate::print_out(&format!("{r}\n"));
    }
    Ok(())
}
