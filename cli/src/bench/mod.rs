//! `meltr bench`: where the time goes, on this machine and device.
//!
//! `meltr bench step` times the phases of a training step and a meta step
//! (and the epoch-time ratio against a plain sum); `meltr bench head` times
//! each preset's head. Both report the device (cpu or cuda), so the same
//! command compares a GPU build with the CPU one.

use meltr::backbone::backbone_from_kind;
use meltr::head::{Meltr, Preset};
use meltr::hypergrad::{MetaLearner, MetaSettings};
use meltr::meta_loss::MetaLoss;
mod step_profile;

use meltr::train::TrainConfig;
use std::path::PathBuf;
use std::time::Instant;
use step_profile::{device_name, profile_step, Phases};

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
    /// Batch size (default: the run's).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Train on the run's first K tasks only (and a head for K losses).
    #[arg(long)]
    tasks_count: Option<usize>,
    /// The backbone's settings as JSON (default: its kind's defaults), e.g.
    /// `{"width": 64}` (both built-in backbones have a width): to time
    /// other sizes.
    #[arg(long)]
    backbone_settings: Option<String>,
    /// Run one phase alone, so that the process's peak memory is that
    /// phase's: plain (backbone steps on the plain sum), meltr (backbone
    /// steps with the run's combinator), meta (meta steps), all.
    #[arg(long, default_value = "all", value_parser = ["all", "plain", "meltr", "meta"])]
    only: String,
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
    /// One preset only (univl, violet, allinone, paper).
    #[arg(long)]
    preset: Option<String>,
    /// Print JSON: one object per head.
    #[arg(long)]
    json: bool,
    /// Check the head term's cost instead of timing: per preset at its
    /// reference K, head term over value+weights timed in turn in this
    /// process (a ratio, not a time); fails when one is over twice its
    /// reference figure.
    #[arg(long, conflicts_with_all = ["tasks", "json"])]
    check_ratio: bool,
}

/// Head term over value+weights per preset at its reference K, measured
/// with `meltr bench head --check-ratio` (typical of 5 runs on the 2-core
/// development machine, dev and release builds alike). The head term is a
/// tangent forward (2K rows) and one backward that also sums `∂/∂φ`;
/// value+weights a forward and a backward without `∂/∂φ`.
const HEAD_TERM_RATIO: [(Preset, usize, f64); 4] = [
    (Preset::Allinone, 2, 1.5),
    (Preset::Violet, 3, 4.3),
    (Preset::Univl, 8, 3.4),
    (Preset::Paper, 8, 4.1),
];

pub fn run(c: BenchCommand) -> anyhow::Result<String> {
    match c {
        BenchCommand::Step(a) => step(a),
        BenchCommand::Head(a) => head(a),
    }
}

fn step(a: StepArgs) -> anyhow::Result<String> {
    let mut config = match (&a.config, &a.preset) {
        (Some(path), _) => TrainConfig::load(path)?,
        (None, p) => TrainConfig::preset(p.as_deref().unwrap_or("quick"))?,
    };
    if let Some(n) = a.batch_size {
        anyhow::ensure!(n > 0, "--batch-size: at least one example");
        config.batch_size = n;
    }
    if let Some(k) = a.tasks_count {
        config = first_tasks(&config, k)?;
    }
    let threads = meltr::tensor::threads::use_default_threads(config.batch_size);
    let phases = match a.only.as_str() {
        "plain" => Phases::Plain,
        "meltr" => Phases::Combined,
        "meta" => Phases::Meta,
        _ => Phases::All,
    };
    // Timing needs no trained weights: a fresh backbone of the data set's kind.
    let data = config.dataset()?;
    let settings = match &a.backbone_settings {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("--backbone-settings: not JSON ({e}): {text}"))?,
        None => serde_json::Value::Null,
    };
    let model = backbone_from_kind(data.backbone_kind(), &settings, config.seed)?;
    let n_params = model.layout().num_params();
    let profile = profile_step(&config, model, a.reps, phases)?;
    Ok(if a.json {
        let mut v = serde_json::to_value(&profile)?;
        let derived = [
            ("sum_step_ms", profile.sum_step_ms()),
            ("step_ms", profile.step_ms()),
            ("epoch_ratio_3", profile.epoch_ratio_at(3)),
            ("epoch_ratio_10", profile.epoch_ratio_at(10)),
            ("meta_over_floor", profile.meta_over_floor()),
        ];
        for (key, x) in derived {
            // Phases not run give NaN ratios: JSON null.
            v[key] = serde_json::json!(x.is_finite().then_some(x));
        }
        v["threads"] = threads.into();
        v["n_params"] = n_params.into();
        serde_json::to_string_pretty(&v)?
    } else {
        format!("{threads} thread(s)\n{}", profile.table())
    })
}

/// `config` on its first `k` tasks, the combinator resized to match (its
/// `tasks` setting, where it has one); the primary task must stay.
fn first_tasks(config: &TrainConfig, k: usize) -> anyhow::Result<TrainConfig> {
    let n = config.tasks.len();
    anyhow::ensure!(
        (1..=n).contains(&k),
        "--tasks-count {k}: the run has {n} tasks ({})",
        config.task_names().join(", ")
    );
    let mut table: toml::Table = toml::from_str(&config.to_toml())?;
    let tasks: Vec<toml::Value> = config.tasks[..k]
        .iter()
        .map(toml::Value::try_from)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        config.tasks[..k].iter().any(|t| t.name == config.primary),
        "--tasks-count {k}: the primary task {} is not among the first {k}",
        config.primary
    );
    table.insert("tasks".into(), tasks.into());
    if let Some(toml::Value::Table(m)) = table.get_mut("meta_loss") {
        if m.contains_key("tasks") {
            m.insert("tasks".into(), (k as i64).into());
        }
    }
    Ok(TrainConfig::from_toml(
        &toml::to_string(&table)?,
        std::path::Path::new("--tasks-count"),
    )?)
}

fn head(a: HeadArgs) -> anyhow::Result<String> {
    anyhow::ensure!(a.reps > 0, "--reps: at least one repetition");
    let only = a.preset.as_deref().map(Preset::from_name).transpose()?;
    if a.check_ratio {
        return check_head_term_ratio(only);
    }
    let mut rows = Vec::new();
    for (preset, reference_k) in [
        (Preset::Allinone, 2),
        (Preset::Violet, 3),
        (Preset::Univl, 8),
        (Preset::Paper, 8),
    ] {
        if only.is_some_and(|p| p != preset) {
            continue;
        }
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
        let forward_ms = time(&mut || head.value(&l).map(drop))?;
        let value_weights_ms = time(&mut || head.eval(&l).map(drop))?;
        let head_term_ms = time(&mut || head.mixed_grad(&l, &dir).map(drop))?;
        // The meta step's work on the head once `c` is known: head term and
        // the regulariser's direct term, clipping, Adam, new parameters.
        let mut learner = MetaLearner::new(&head, None, MetaSettings::default());
        let meta_update_ms = time(&mut || {
            let mut g = head.mixed_grad(&l, &dir)?;
            g.axpy(-0.1, &head.param_grad(&l, 1.0)?);
            learner.apply(&mut head, g).map(drop)
        })?;
        rows.push(serde_json::json!({
            "head": preset.name(),
            "k": k,
            "forward_ms": forward_ms,
            "value_weights_ms": value_weights_ms,
            "head_term_ms": head_term_ms,
            "meta_update_ms": meta_update_ms,
        }));
    }
    if a.json {
        return Ok(serde_json::to_string_pretty(&rows)?);
    }
    let mut out = format!(
        "device {}, mean of {} calls (ms)\n{:<14} {:>9} {:>15} {:>10} {:>12}\n",
        device_name(),
        a.reps,
        "head",
        "forward",
        "value+weights",
        "head term",
        "meta update"
    );
    for r in rows {
        out += &format!(
            "{:<14} {:>9.3} {:>15.3} {:>10.3} {:>12.3}\n",
            format!("{}-k{}", r["head"].as_str().unwrap_or(""), r["k"]),
            r["forward_ms"].as_f64().unwrap_or(f64::NAN),
            r["value_weights_ms"].as_f64().unwrap_or(f64::NAN),
            r["head_term_ms"].as_f64().unwrap_or(f64::NAN),
            r["meta_update_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
    Ok(out)
}

/// `meltr bench head --check-ratio`: a slip that adds work per call to one
/// pass only moves the ratio (a copy of `∂/∂φ` into a fresh buffer made the
/// head term 3-5x slower, unseen for a week); a loaded machine slows both
/// passes alike.
fn check_head_term_ratio(only: Option<Preset>) -> anyhow::Result<String> {
    let mut out = String::from("head term / value+weights (reference; fails over 2x)\n");
    let mut slow = Vec::new();
    for (preset, k, reference) in HEAD_TERM_RATIO {
        if only.is_some_and(|p| p != preset) {
            continue;
        }
        let head = Meltr::init(preset, k, 0)?;
        let l: Vec<f32> = (0..k).map(|i| 0.3 + i as f32).collect();
        let dir: Vec<f32> = (0..k).map(|i| 1.0 - 0.2 * i as f32).collect();
        // Calls of 0.1-5 ms: rounds of a few ms each, the fastest round of
        // each pass (the one least disturbed by other processes).
        let reps = 20_usize;
        let time = |f: &mut dyn FnMut() -> meltr::Result<()>| -> anyhow::Result<f64> {
            let s = Instant::now();
            for _ in 0..reps {
                f()?;
            }
            Ok(s.elapsed().as_secs_f64())
        };
        let measure = || -> anyhow::Result<f64> {
            let (mut term, mut eval) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..7 {
                term = term.min(time(&mut || head.mixed_grad(&l, &dir).map(drop))?);
                eval = eval.min(time(&mut || head.eval(&l).map(drop))?);
            }
            Ok(term / eval)
        };
        // A figure over the bound is measured twice more (a burst of other
        // work can cover all seven rounds of one pass); the lowest counts.
        let mut ratio = measure()?;
        for _ in 0..2 {
            if ratio <= 2.0 * reference {
                break;
            }
            ratio = ratio.min(measure()?);
        }
        let name = format!("{}-k{k}", preset.name());
        out += &format!("{name:<14} {ratio:>6.2} ({reference})\n");
        if ratio > 2.0 * reference {
            slow.push(name);
        }
    }
    anyhow::ensure!(
        slow.is_empty(),
        "head term over twice its reference cost ratio for {}:\n{out}",
        slow.join(", ")
    );
    Ok(out)
}
