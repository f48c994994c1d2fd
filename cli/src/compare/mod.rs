//! `meltr compare`: the paper's table 8 on a built-in domain. Pretrains
//! one backbone (unless given), fine-tunes it once per method and seed —
//! each run in its own process, so that its peak memory is its own — and
//! prints and writes the table.

use anyhow::Context;
use meltr::backbone::save_backbone;
mod methods;
mod recipe;
mod stats;
mod table;

use meltr::train::{starting_backbone, RunSummary, TrainConfig};
use methods::{fixed_weights_run_file, methods_by_name, run_file, GRID};
use recipe::Recipes;
use std::path::{Path, PathBuf};
use std::process::Command;
use table::{markdown, rows, write};

/// Arguments of `meltr compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Methods, comma separated: primary, sum, weighted, grid, uw, dwa,
    /// gradnorm, linear, meltr, mix, bounded, neumann, cg, unrolled.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "primary,sum,weighted,uw,dwa,gradnorm,linear,meltr,neumann,cg,unrolled"
    )]
    methods: Vec<String>,
    /// Seeds, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The shared run settings: a built-in preset (quick, few, tiny;
    /// digits, digits-large, digits-tiny).
    #[arg(long, default_value = "quick")]
    preset: String,
    /// A pretrained backbone; pretrained with the preset's `pretrain_preset` if absent.
    #[arg(long)]
    backbone: Option<PathBuf>,
    /// A run-file fragment of tables appended to every method's run file:
    /// the shared recipe (`[optimizer]`, `[meta]`, `[schedule]`; not
    /// `[meta_loss]` or `[strategy]`, which the methods set). Its
    /// `[schedule]` goes to the methods with meta steps only.
    #[arg(long)]
    extra: Option<PathBuf>,
    /// A method's own recipe, METHOD=FILE (repeatable): a fragment like
    /// --extra's, laid over it key by key for that method only (e.g. the
    /// learning rate its validation chose); a `[schedule]` only for a
    /// method with meta steps.
    #[arg(long = "recipe", value_name = "METHOD=FILE")]
    recipes: Vec<String>,
    /// A folder of methods' own recipes, one METHOD.toml each (e.g.
    /// experiments/recipes/few): as --recipe for each method run that has one.
    #[arg(long, value_name = "DIR")]
    recipe_dir: Option<PathBuf>,
    /// The tasks, comma separated (default: the preset's); the preset's
    /// primary task must be among them.
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    /// Output folder: one run folder per method and seed, compare.md, compare.json.
    #[arg(long, default_value = "runs/compare")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let methods = methods_by_name(&a.methods)?;
    let recipes = Recipes::load(
        a.extra.as_deref(),
        &a.recipes,
        a.recipe_dir.as_deref(),
        &methods,
    )?;
    anyhow::ensure!(!a.seeds.is_empty(), "--seeds: give at least one seed");
    let config = TrainConfig::preset(&a.preset)?;
    let tasks = match a.tasks {
        Some(t) => checked_tasks(t, &config.primary)?,
        None => config.task_names(),
    };
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    meltr::tensor::threads::use_default_threads(config.batch_size);
    let backbone = match a.backbone {
        Some(b) => b,
        None => {
            let path = a.out.join("backbone.safetensors");
            if !path.exists() {
                if config.pretrain_preset == "none" {
                    eprintln!("a freshly initialised backbone (pretrain_preset = \"none\") ...");
                } else {
                    eprintln!(
                        "pretraining the backbone ({} preset) ...",
                        config.pretrain_preset
                    );
                }
                save_backbone(&*starting_backbone(&config)?, &path)?;
            }
            path
        }
    };
    let base = format!(
        "preset = {:?}\nbackbone = {:?}\n",
        a.preset,
        backbone.canonicalize().unwrap_or(backbone.clone())
    );
    // MELTR methods use the preset's own head size (its `[meta_loss]`).
    let run: toml::Table = config.to_toml().parse()?;
    let head = run
        .get("meta_loss")
        .and_then(|m| m.get("preset"))
        .and_then(|p| p.as_str())
        .unwrap_or("univl")
        .to_string();
    let head = head.as_str();
    let mut results = vec![];
    let mut grid_note = String::new();
    for m in &methods {
        if m.name == "grid" {
            // Every value on every seed; the best mean validation metric wins.
            let mut best: Option<(f32, f64, Vec<RunSummary>)> = None;
            for aux in GRID {
                let mut runs = vec![];
                for &seed in &a.seeds {
                    let dir = a.out.join(format!("grid{aux}-seed{seed}"));
                    let text = fixed_weights_run_file(&base, &tasks, &config.primary, seed, aux)
                        + &recipes.fragment(*m);
                    eprintln!("fixed weights, auxiliary {aux} (seed {seed}) ...");
                    runs.push(run_or_reuse(&dir, &text)?);
                }
                let val = mean_val(&runs);
                grid_note += &format!("auxiliary weight {aux}: mean validation {val:.2}; ");
                if best.as_ref().map_or(true, |b| val > b.1) {
                    best = Some((aux, val, runs));
                }
            }
            let (aux, _, runs) = best.expect("the grid has values");
            eprintln!("grid: {grid_note}chosen: {aux}");
            grid_note =
                format!("fixed weights, auxiliary {aux} (chosen on validation from {GRID:?})");
            results.push((*m, runs));
            continue;
        }
        let mut runs = vec![];
        for &seed in &a.seeds {
            let dir = a.out.join(format!("{}-seed{seed}", m.name));
            let text =
                run_file(&base, *m, &tasks, &config.primary, seed, head) + &recipes.fragment(*m);
            eprintln!("{} (seed {seed}) ...", m.label);
            runs.push(run_or_reuse(&dir, &text)?);
        }
        results.push((*m, runs));
    }
    let mut rows = rows(&results);
    for r in &mut rows {
        if r.method == "grid" {
            r.label = grid_note.clone();
        }
        if let Some(own) = recipes.describe(&r.method) {
            r.label += &format!(" [{own}]");
        }
    }
    write(&rows, a.seeds.len(), &a.out)?;
    crate::print_out(&format!(
        "{}\nwrote {}/compare.md and compare.json\n",
        markdown(&rows, a.seeds.len()),
        a.out.display()
    ));
    Ok(())
}

/// `--tasks`: registered names, each once, the primary among them.
fn checked_tasks(tasks: Vec<String>, primary: &str) -> anyhow::Result<Vec<String>> {
    for (i, t) in tasks.iter().enumerate() {
        meltr::aux_task::find_task(t)?;
        anyhow::ensure!(!tasks[..i].contains(t), "--tasks: {t} is listed twice");
    }
    anyhow::ensure!(
        tasks.iter().any(|t| t == primary),
        "--tasks {}: the preset's primary task {primary} must be among them",
        tasks.join(",")
    );
    Ok(tasks)
}

/// The mean over runs of the last epoch's headline validation metric.
fn mean_val(runs: &[RunSummary]) -> f64 {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.epochs.last()?.val.as_ref())
        .map(|m| m.headline().1 as f64)
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The summary of the run of `text` in `dir`: a finished run of the same
/// run file is reused (so an interrupted comparison continues where it
/// stopped, and one with more methods or seeds runs only what is new).
fn run_or_reuse(dir: &Path, text: &str) -> anyhow::Result<RunSummary> {
    let file = dir.join("run.toml");
    let summary = dir.join("summary.json");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(text) && summary.exists() {
        eprintln!("  reusing {}", summary.display());
        return Ok(serde_json::from_str(&std::fs::read_to_string(&summary)?)?);
    }
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(&summary);
    std::fs::write(&file, text)?;
    train_in_child(&file, dir)
}

/// Runs `meltr train` in a child process and reads its summary.
fn train_in_child(config: &Path, out: &Path) -> anyhow::Result<RunSummary> {
    let status = Command::new(std::env::current_exe()?)
        .args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "training with {} failed",
        config.display()
    );
    let text = std::fs::read_to_string(out.join("summary.json"))?;
    Ok(serde_json::from_str(&text)?)
}
