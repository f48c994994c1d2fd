//! `meltr bench`: where the time goes, on this machine and device.
//!
//! `meltr bench step` times the phases of a training step and a meta step
//! (and the epoch-time ratio against a plain sum); `meltr bench head` times
//! each preset's head. Both report the device (cpu or cuda), so the same
//! command compares a GPU build with the CPU one.

use meltr::backbone::backbone_from_kind;
use meltr::dataset::dataset_by_name;
use meltr::head::{Meltr, Preset};
use meltr::hypergrad::{MetaLearner, MetaSettings};
use meltr::meta_loss::MetaLoss;
use meltr::train::bench::{device_name, profile_step};
use meltr::train::TrainConfig;
use std::path::PathBuf;
use std::time::Instant;

/// `meltr bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Time a training step's phases and a meta step.
    Step(StepArgs),
    /// Time each preset's head: forward, forward+backward, head term.
    Head(HeadArgs),
}

/// Arguments of `meltr bench step`.
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    /// A run file (TOML); default: the quick preset.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A built-in run: quick (default), few (128 training examples), tiny;
    /// digits, digits-tiny.
    #[arg(long)]
    preset: Option<String>,
    /// Repetitions to average (after one warm-up).
    #[arg(long, default_value_t = 10)]
    reps: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `meltr bench head`.
#[derive(Debug, clap::Args)]
pub struct HeadArgs {
    /// Repetitions to average per measurement (after one warm-up).
    #[arg(long, default_value_t = 50)]
    reps: usize,
    /// Number of losses K (default: each preset's reference K).
    #[arg(long)]
    tasks: Option<usize>,
}

pub fn run(c: BenchCommand) -> anyhow::Result<String> {
    match c {
        BenchCommand::Step(a) => step(a),
        BenchCommand::Head(a) => head(a),
    }
}

fn step(a: StepArgs) -> anyhow::Result<String> {
    let config = match (&a.config, &a.preset) {
        (Some(path), _) => TrainConfig::load(path)?,
        (None, p) => TrainConfig::preset(p.as_deref().unwrap_or("quick"))?,
    };
    // Timing needs no trained weights: a fresh backbone of the data set's kind.
    let data = dataset_by_name(&config.data, config.data_seed)?;
    let model = backbone_from_kind(data.backbone_kind(), &serde_json::Value::Null, config.seed)?;
    let profile = profile_step(&config, model, a.reps)?;
    Ok(if a.json {
        serde_json::to_string_pretty(&profile)?
    } else {
        profile.table()
    })
}

fn head(a: HeadArgs) -> anyhow::Result<String> {
    anyhow::ensure!(a.reps > 0, "--reps: at least one repetition");
    let mut out = format!(
        "device {}, mean of {} calls (ms)\n{:<14} {:>9} {:>17} {:>10} {:>12}\n",
        device_name(),
        a.reps,
        "head",
        "forward",
        "forward+backward",
        "head term",
        "meta update"
    );
    for (preset, reference_k) in [
        (Preset::Allinone, 2),
        (Preset::Violet, 3),
        (Preset::Univl, 8),
        (Preset::Paper, 8),
    ] {
        let k = a.tasks.unwrap_or(reference_k);
        let mut head = Meltr::init(preset, k, 0)?;
        let l: Vec<f32> = (0..k).map(|i| 0.3 + i as f32).collect();
        let dir: Vec<f32> = (0..k).map(|i| 1.0 - 0.2 * i as f32).collect();
        let time = |f: &mut dyn FnMut() -> meltr::Result<()>| -> anyhow::Result<f64> {
            f()?;
            let s = Instant::now();
            for _ in 0..a.reps {
                f()?;
            }
            Ok(s.elapsed().as_secs_f64() * 1e3 / a.reps as f64)
        };
        let fwd = time(&mut || head.value(&l).map(drop))?;
        let bwd = time(&mut || head.eval(&l).map(drop))?;
        let term = time(&mut || head.mixed_grad(&l, &dir).map(drop))?;
        // The meta step's work on the head once `c` is known: head term and
        // the regulariser's direct term, clipping, Adam, new parameters.
        let mut learner = MetaLearner::new(&head, None, MetaSettings::default());
        let update = time(&mut || {
            let mut g = head.mixed_grad(&l, &dir)?;
            g.axpy(-0.1, &head.param_grad(&l, 1.0)?);
            learner.apply(&mut head, g).map(drop)
        })?;
        out += &format!(
            "{:<14} {fwd:>9.3} {bwd:>17.3} {term:>10.3} {update:>12.3}\n",
            format!("{}-k{k}", preset.name())
        );
    }
    Ok(out)
}
