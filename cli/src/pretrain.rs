//! `meltr pretrain`: trains a fresh backbone of the data set's kind on its
//! pretraining stream with the plain sum of its tasks, with a progress bar
//! and a log of each task's loss, and writes a safetensors backbone file.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use meltr::aux_task::TaskSet;
use meltr::backbone::backbone_to_bytes;
use meltr::train::pretrain::{default_tasks, pretrain, PretrainConfig, PretrainRun};
use meltr::train::Event;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `meltr pretrain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the backbone checkpoint (safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Settings preset: tiny (seconds), quick (default, minutes), long on
    /// the video-text world; digits, digits-tiny on the handwritten digits.
    #[arg(long)]
    preset: Option<String>,
    /// A run file (TOML) with a preset, settings and `[[tasks]]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override the number of steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Override the seed of the weights and the tasks' randomness.
    #[arg(long)]
    seed: Option<u64>,
    /// Tasks by name, comma separated, with default settings (instead of the run file's).
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    /// Also write the run's report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// A `tracing` writer that prints above the progress bar.
struct BarWriter {
    bar: ProgressBar,
    buf: Vec<u8>,
}

impl Write for BarWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if !text.is_empty() {
            if self.bar.is_hidden() {
                eprintln!("{text}");
            } else {
                self.bar.println(text);
            }
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (mut config, mut tasks) = match &args.config {
        Some(path) => {
            let run = PretrainRun::load(path)?;
            (run.config, run.tasks)
        }
        None => {
            let config = PretrainConfig::preset(args.preset.as_deref().unwrap_or("quick"))?;
            let tasks = default_tasks(&config)?;
            (config, tasks)
        }
    };
    if args.config.is_some() && args.preset.is_some() {
        anyhow::bail!("give the preset inside the run file (preset = \"...\"), not with --preset");
    }
    if let Some(s) = args.steps {
        config.steps = s;
    }
    meltr::tensor::threads::use_default_threads(config.batch_size);
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(names) = &args.tasks {
        tasks = TaskSet::from_names(names)?;
    }
    if let Some(dir) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        anyhow::ensure!(
            dir.is_dir(),
            "--out {}: folder {} does not exist",
            args.out.display(),
            dir.display()
        );
    }

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(config.steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps ({eta} left) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let log_bar = bar.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(move || BarWriter {
            bar: log_bar.clone(),
            buf: Vec::new(),
        })
        .init();
    tracing::info!(
        "pretraining {} steps, batch {}, tasks {}",
        config.steps,
        config.batch_size,
        tasks.names().join(", ")
    );
    let (model, report) = pretrain(&config, &tasks, |e| {
        if let Event::Step { index, losses, .. } = e {
            bar.set_position(*index as u64);
            let total: f32 = losses.iter().sum();
            bar.set_message(format!("sum {total:.3}"));
        }
    })?;
    bar.finish_and_clear();

    let mut meta = BTreeMap::new();
    meta.insert("tasks".to_string(), report.tasks.join(","));
    meta.insert("steps".to_string(), report.steps.to_string());
    meta.insert(
        "pretrain_config".to_string(),
        serde_json::to_string(&config)?,
    );
    meltr::atomic::write_atomic(&args.out, &backbone_to_bytes(&*model, &meta)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(p) = &args.report {
        meltr::atomic::write_atomic(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }

    println!(
        "{} steps in {:.1} s ({:.1} ms/step), {} skipped; wrote {}",
        report.steps,
        report.seconds,
        1e3 * report.seconds / report.steps.max(1) as f64,
        report.skipped,
        args.out.display()
    );
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>14}",
        "task", "train first", "train last", "held-out before", "held-out after"
    );
    for (i, name) in report.tasks.iter().enumerate() {
        println!(
            "{:<10} {:>12.4} {:>12.4} {:>14.4} {:>14.4}",
            name, report.first[i], report.last[i], report.eval_before[i], report.eval_after[i]
        );
    }
    Ok(())
}
