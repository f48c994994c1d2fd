//! `meltr view`: runs an exported head in the sandbox and writes a report.

use anyhow::{bail, Result};
use clap::Args;
use meltr::viewer::{write_report, Limits, ReportOptions, SandboxedHead};
use std::path::PathBuf;

/// Load an exported head in a wasmtime sandbox (no imports, fuel and memory
/// limits) and write plots of what it learned plus an index.html: a live
/// page (the head running in the browser, sliders per loss) above the plots.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The exported head (from `meltr export`).
    pub artifact: PathBuf,
    /// Report folder (created if missing).
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Training log (JSON lines with `step` and `weights`) for the weights-over-training figure.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Typical loss values, comma separated, one per task (default: the log's medians, else 1.0).
    #[arg(long, value_delimiter = ',')]
    pub at: Option<Vec<f32>>,
    /// Sweep range of every loss, LOW:HIGH (default: 0 to twice its typical value).
    #[arg(long)]
    pub range: Option<String>,
    /// The two tasks of the surface figure, I,J (default: the primary task and the next).
    #[arg(long, value_delimiter = ',')]
    pub pair: Option<Vec<usize>>,
    /// Surface grid size (GRID x GRID evaluations).
    #[arg(long, default_value_t = 50)]
    pub grid: usize,
    /// Points per sweep curve.
    #[arg(long, default_value_t = 101)]
    pub points: usize,
    /// Fuel per call into the artifact (about one unit per instruction).
    #[arg(long, default_value_t = Limits::default().fuel_per_call)]
    pub fuel: u64,
    /// Memory cap of the artifact, in MiB.
    #[arg(long, default_value_t = Limits::default().memory_bytes >> 20)]
    pub memory_mib: usize,
    /// Largest artifact file accepted, in MiB.
    #[arg(long, default_value_t = Limits::default().max_file_bytes >> 20)]
    pub max_file_mib: usize,
}

/// Runs `meltr view`.
pub fn run(args: &ViewArgs) -> Result<()> {
    let limits = Limits {
        fuel_per_call: args.fuel,
        memory_bytes: args.memory_mib.saturating_mul(1 << 20),
        max_file_bytes: args.max_file_mib.saturating_mul(1 << 20),
    };
    let range = match &args.range {
        None => None,
        Some(r) => match r
            .split_once(':')
            .map(|(a, b)| (a.trim().parse::<f32>(), b.trim().parse::<f32>()))
        {
            Some((Ok(a), Ok(b))) => Some((a, b)),
            _ => bail!("--range {r}: expected LOW:HIGH, e.g. 0:5"),
        },
    };
    let pair = match args.pair.as_deref() {
        None => None,
        Some([i, j]) => Some((*i, *j)),
        Some(p) => bail!("--pair: expected two task indices I,J, found {}", p.len()),
    };
    let mut head = SandboxedHead::load(&args.artifact, &limits)?;
    let opts = ReportOptions {
        at: args.at.clone(),
        range,
        points: args.points,
        pair,
        grid: args.grid,
        log: args.log.clone(),
    };
    let r = write_report(&mut head, &opts, &args.out)?;
    let m = head.metadata();
    println!(
        "{}: {} head, K = {} ({}), {} meta steps",
        args.artifact.display(),
        m.preset.as_deref().unwrap_or("custom"),
        m.num_tasks,
        head.task_names().join(", "),
        m.steps
    );
    println!(
        "wrote {} ({}); surface {}x{} in {:.2} s",
        args.out.join("index.html").display(),
        r.files.join(", "),
        args.grid,
        args.grid,
        r.surface_seconds
    );
    println!(
        "open {} in a browser: the head runs in the page (no server needed)",
        args.out.join("index.html").display()
    );
    Ok(())
}
