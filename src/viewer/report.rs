//! `meltr view`: the report folder — SVG figures, the numbers behind them
//! (`report.json`) and an `index.html` that shows them beneath the live
//! page (see [`super::page`]). Needs only the artifact (and, for figure 4,
//! a training log).
//!
//! | file                | content (paper figure) |
//! |---------------------|------------------------|
//! | `fig3_value.svg`    | f against each input loss relative to its typical value, others at typical values (3) |
//! | `fig3_weights.svg`  | ∂f/∂l_k against l_k (3) |
//! | `fig4_weights.svg`  | per-task weight over training, with `--log` (4) |
//! | `fig7_surface.svg`  | f over two losses beside the plain sum (7) |
//! | `report.json`       | metadata, sweeps and surface as numbers |
//! | `index.html`        | the live page, then all of the above |
//! | `head-core.js`, `page.js` | the live page's head and script |

use super::analysis::{self, Surface, Sweep};
use super::page;
use super::plot;
use super::training_log::TrainingLog;
use super::SandboxedHead;
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to draw.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Typical value of each loss (others are held there while one sweeps).
    /// `None`: the training log's medians, else 1.0 for every task.
    pub at: Option<Vec<f32>>,
    /// Sweep range of every loss. `None`: `[0, 2 * typical_k]` per task.
    pub range: Option<(f32, f32)>,
    /// Points per sweep (figure 3).
    pub points: usize,
    /// The two losses of the surface (figure 7). `None`: the primary task
    /// (or task 0) and the next one.
    pub pair: Option<(usize, usize)>,
    /// Grid size of the surface: `grid x grid` evaluations.
    pub grid: usize,
    /// A JSON-lines training log (figure 4); see [`TrainingLog`].
    pub log: Option<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            at: None,
            range: None,
            points: 101,
            pair: None,
            grid: 50,
            log: None,
        }
    }
}

/// What went into a report, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Task names in input order.
    pub task_names: Vec<String>,
    /// The typical values used.
    pub at: Vec<f32>,
    /// Figure 3 data.
    pub sweeps: Vec<Sweep>,
    /// Figure 7 data (absent for a single-task head).
    pub surface: Option<Surface>,
    /// Whether figure 4 was drawn.
    pub has_log: bool,
    /// Seconds spent computing the surface (grid² evaluations).
    pub surface_seconds: f64,
    /// The files written, relative to the report folder.
    pub files: Vec<String>,
}

/// Computes every figure with `head` and writes the report to `out`
/// (created if missing; files replaced atomically).
pub fn write_report(head: &mut SandboxedHead, opts: &ReportOptions, out: &Path) -> Result<Report> {
    let k = head.num_tasks();
    let names = head.task_names().to_vec();
    let log = match &opts.log {
        Some(p) => Some(TrainingLog::load(p, k)?),
        None => None,
    };
    let at = match (&opts.at, log.as_ref().and_then(TrainingLog::typical_losses)) {
        (Some(at), _) => at.clone(),
        (None, Some(med)) => med,
        (None, None) => vec![1.0; k],
    };
    crate::error::check_finite("typical losses (--at)", &at, k)?;
    let range_of = |v: f32| {
        opts.range
            .unwrap_or((0.0, if v > 0.0 { 2.0 * v } else { 1.0 }))
    };
    let ranges: Vec<_> = at.iter().map(|&v| range_of(v)).collect();
    let sweeps = analysis::sweeps(head, &at, &ranges, opts.points)?;
    let (surface, surface_seconds) = if k >= 2 {
        let first = head.metadata().primary.map_or(0, |p| p as usize);
        let pair = opts.pair.unwrap_or((first, (first + 1) % k));
        if pair.0 >= k || pair.1 >= k {
            return Err(Error::InvalidSetting {
                field: "pair".into(),
                value: format!("{},{}", pair.0, pair.1),
                reason: format!("task indices must be below {k}"),
            });
        }
        let t = Instant::now();
        let s = analysis::surface(head, &at, pair, ranges[pair.0], ranges[pair.1], opts.grid)?;
        (Some(s), t.elapsed().as_secs_f64())
    } else {
        (None, 0.0)
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut files = vec![];
    let mut write = |name: &str, text: String| -> Result<()> {
        write_atomic(&out.join(name), text.as_bytes())?;
        files.push(name.to_string());
        Ok(())
    };
    write("fig3_value.svg", plot::sweep_values(&sweeps)?)?;
    write("fig3_weights.svg", plot::sweep_weights(&sweeps)?)?;
    if let Some(log) = &log {
        write(
            "fig4_weights.svg",
            plot::weights_over_training(log, &names)?,
        )?;
    }
    if let Some(s) = &surface {
        write("fig7_surface.svg", plot::surface(s, &names)?)?;
    }
    let mut report = Report {
        task_names: names,
        at,
        sweeps,
        surface,
        has_log: log.is_some(),
        surface_seconds,
        files,
    };
    write_atomic(&out.join("head-core.js"), page::core_js(head).as_bytes())?;
    write_atomic(&out.join("page.js"), page::PAGE_JS.as_bytes())?;
    let html = page::index_html(head, &report, log.as_ref());
    write_atomic(&out.join("index.html"), html.as_bytes())?;
    report
        .files
        .extend(["head-core.js", "page.js", "index.html"].map(String::from));
    let json = serde_json::json!({
        "artifact": head.origin(),
        "metadata": metadata_json(head),
        "report": &report,
    });
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(&json)
            .expect("serialises")
            .as_bytes(),
    )?;
    report.files.push("report.json".into());
    Ok(report)
}

fn metadata_json(head: &SandboxedHead) -> serde_json::Value {
    let m = head.metadata();
    serde_json::json!({
        "format": m.format, "preset": m.preset, "h1": m.h1, "d": m.d, "f": m.f,
        "heads": m.heads, "num_tasks": m.num_tasks, "primary": m.primary,
        "steps": m.steps, "seed": m.seed, "exporter": m.exporter,
    })
}
