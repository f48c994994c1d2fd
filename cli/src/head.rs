//! `meltr head ...`: initialise a head, evaluate it, and print its head term.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use meltr::head::{HeadWeights, Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum HeadCommand {
    /// Write a freshly initialised head (PyTorch's default init, seeded).
    Init {
        /// Size preset: univl, violet, allinone or paper.
        #[arg(long, default_value = "univl")]
        preset: String,
        /// Number of input losses K.
        #[arg(long)]
        tasks: usize,
        /// Initialisation seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Comma-separated task names, in input order (optional).
        #[arg(long)]
        names: Option<String>,
        /// Where to write the safetensors file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the head's value and each task's weight ∂f/∂l_k.
    Inspect {
        #[command(flatten)]
        point: Point,
        /// Print `{"value": x, "weights": [...]}` instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print, as JSON keyed by reference parameter names, the head term
    /// ∂/∂φ D_l f(l)[c] for direction c.
    MixedGrad {
        #[command(flatten)]
        point: Point,
        /// The direction c in loss space, comma-separated (one per task).
        #[arg(long, allow_hyphen_values = true)]
        direction: String,
    },
}

/// A head file and a point in loss space.
#[derive(Debug, Args)]
pub struct Point {
    /// A head in safetensors (written by `meltr head init` or by training).
    #[arg(long)]
    weights: PathBuf,
    /// The K losses, comma-separated.
    #[arg(long, allow_hyphen_values = true)]
    losses: String,
}

impl Point {
    fn load(&self) -> Result<(Meltr, Vec<f32>)> {
        let head = Meltr::from_weights(HeadWeights::load(&self.weights)?)
            .with_context(|| self.weights.display().to_string())?;
        Ok((head, parse_list("--losses", &self.losses)?))
    }
}

/// Parses `1.2,0.3,...`, naming the flag and the bad item on failure.
fn parse_list(flag: &str, s: &str) -> Result<Vec<f32>> {
    s.split(',')
        .enumerate()
        .map(|(i, item)| {
            item.trim()
                .parse::<f32>()
                .with_context(|| format!("{flag}: item #{i} `{item}` is not a number"))
        })
        .collect()
}

/// Runs one `head` subcommand and returns what to print.
pub fn run(cmd: HeadCommand) -> Result<String> {
    use std::fmt::Write;
    let mut text = String::new();
    match cmd {
        HeadCommand::Init {
            preset,
            tasks,
            seed,
            names,
            out,
        } => {
            let mut head = Meltr::init(Preset::from_name(&preset)?, tasks, seed)?;
            if let Some(names) = names {
                let names: Vec<String> = names.split(',').map(|s| s.trim().to_string()).collect();
                anyhow::ensure!(
                    names.len() == tasks,
                    "--names: {} names given for {tasks} tasks",
                    names.len()
                );
                head.info_mut().task_names = names;
            }
            head.weights().save(&out)?;
            writeln!(
                text,
                "wrote {} ({} head, {} tasks, {} parameters)",
                out.display(),
                preset,
                tasks,
                head.num_params()
            )?;
        }
        HeadCommand::Inspect { point, json } => {
            let (head, losses) = point.load()?;
            let e = head.eval(&losses)?;
            if json {
                writeln!(text, "{}", json!({"value": e.value, "weights": e.weights}))?;
            } else {
                let names = head.weights().info.names_or_default(losses.len());
                writeln!(text, "value  {:.6}", e.value)?;
                writeln!(text, "{:<16} {:>12} {:>12}", "task", "loss", "weight")?;
                for ((n, l), w) in names.iter().zip(&losses).zip(&e.weights) {
                    writeln!(text, "{n:<16} {l:>12.6} {w:>12.6}")?;
                }
            }
        }
        HeadCommand::MixedGrad { point, direction } => {
            let (head, losses) = point.load()?;
            let c = parse_list("--direction", &direction)?;
            let g = head.mixed_grad(&losses, &c)?;
            let mut grads = Map::new();
            let g = g.to_vec();
            let mut rest = g.as_slice();
            for block in head.param_layout() {
                let (this, tail) = rest.split_at(block.len());
                grads.insert(block.name, json!(this));
                rest = tail;
            }
            writeln!(text, "{}", Value::Object(grads))?;
        }
    }
    Ok(text)
}
