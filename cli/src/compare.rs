//! `meltr compare`: the paper's table 8 on a built-in domain. Pretrains
//! one backbone (unless given), fine-tunes it once per method and seed —
//! each run in its own process, so that its peak memory is its own — and
//! prints and writes the table.

use anyhow::Context;
use meltr::backbone::save_backbone;
use meltr::train::compare::{markdown, methods_by_name, rows, run_file, write};
use meltr::train::{starting_backbone, RunSummary, TrainConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `meltr compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Methods, comma separated: primary, sum, weighted, linear, meltr, neumann, cg, unrolled.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "primary,sum,weighted,linear,meltr,neumann,cg,unrolled"
    )]
    methods: Vec<String>,
    /// Seeds, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The shared run settings: a built-in preset (quick, few, tiny;
    /// digits, digits-tiny).
    #[arg(long, default_value = "quick")]
    preset: String,
    /// A pretrained backbone; pretrained with the preset's `pretrain_preset` if absent.
    #[arg(long)]
    backbone: Option<PathBuf>,
    /// Output folder: one run folder per method and seed, compare.md, compare.json.
    #[arg(long, default_value = "runs/compare")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let methods = methods_by_name(&a.methods)?;
    anyhow::ensure!(!a.seeds.is_empty(), "--seeds: give at least one seed");
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    let config = TrainConfig::preset(&a.preset)?;
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
    for m in &methods {
        let mut runs = vec![];
        for &seed in &a.seeds {
            let dir = a.out.join(format!("{}-seed{seed}", m.name));
            std::fs::create_dir_all(&dir)?;
            let text = run_file(&base, *m, &config.tasks, &config.primary, seed, head);
            let file = dir.join("run.toml");
            std::fs::write(&file, &text)?;
            eprintln!("{} (seed {seed}) ...", m.label);
            runs.push(train_in_child(&file, &dir)?);
        }
        results.push((*m, runs));
    }
    let rows = rows(&results);
    write(&rows, a.seeds.len(), &a.out)?;
    crate::print_out(&format!(
        "{}\nwrote {}/compare.md and compare.json\n",
        markdown(&rows, a.seeds.len()),
        a.out.display()
    ));
    Ok(())
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
