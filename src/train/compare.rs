//! The comparison of the paper's table 8 on a built-in domain: the same
//! backbone, data and seeds, fine-tuned with each way of combining the
//! losses; the data set's headline test metric (R@1 or accuracy; mean ±
//! spread over seeds), epoch time and peak memory relative to the plain
//! multi-task sum.

use super::trainer::RunSummary;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// A way of combining the losses, as a run-file fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// Short name (`--methods` takes these).
    pub name: &'static str,
    /// What it is, for the table.
    pub label: &'static str,
}

/// Every method, in the table's order.
pub const METHODS: [Method; 8] = [
    Method {
        name: "primary",
        label: "primary task only",
    },
    Method {
        name: "sum",
        label: "plain multi-task sum",
    },
    Method {
        name: "weighted",
        label: "fixed weights (primary 1, others 0.3)",
    },
    Method {
        name: "linear",
        label: "learned linear (AID-FP-Lite)",
    },
    Method {
        name: "meltr",
        label: "MELTR, AID-FP-Lite",
    },
    Method {
        name: "neumann",
        label: "MELTR, Neumann (3 terms, α = 0.001)",
    },
    Method {
        name: "cg",
        label: "MELTR, conjugate gradient (3 iters)",
    },
    Method {
        name: "unrolled",
        label: "MELTR, one-step unrolled",
    },
];

/// Looks methods up by name; the error lists the known names.
pub fn methods_by_name(names: &[String]) -> Result<Vec<Method>> {
    names
        .iter()
        .map(|n| {
            METHODS
                .iter()
                .copied()
                .find(|m| m.name == n)
                .ok_or_else(|| Error::InvalidSetting {
                    field: "methods".into(),
                    value: n.clone(),
                    reason: format!(
                        "known methods: {}",
                        METHODS
                            .iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
        })
        .collect()
}

/// The run file of `method` on top of `base` (a run file with the shared
/// settings: preset, backbone, tasks with the primary first, ...); MELTR
/// methods use a head of size preset `head` (e.g. `univl`).
pub fn run_file(
    base: &str,
    method: Method,
    tasks: &[String],
    primary: &str,
    seed: u64,
    head: &str,
) -> String {
    let k = tasks.len();
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // Methods without meta steps train on every example, held-out ones too.
    let none = "[strategy]\ntype = \"none\"\n[schedule]\nholdout = 0\n";
    let meltr = |strategy: &str| {
        format!("[meta_loss]\ntype = \"meltr\"\npreset = {head:?}\ntasks = {k}\nseed = {seed}\n[strategy]\n{strategy}\n")
    };
    let body = match method.name {
        "primary" => format!("tasks = [{primary:?}]\n[meta_loss]\ntype = \"sum\"\n{none}"),
        "sum" => format!("[meta_loss]\ntype = \"sum\"\n{none}"),
        "weighted" => {
            let w: Vec<String> = tasks.iter().map(|t| if t == primary { "1.0".into() } else { "0.3".into() }).collect();
            format!("[meta_loss]\ntype = \"weighted\"\nweights = [{}]\n{none}", w.join(", "))
        }
        "linear" => format!("[meta_loss]\ntype = \"learned_linear\"\ntasks = {k}\n[strategy]\ntype = \"identity\"\n"),
        "meltr" => meltr("type = \"identity\""),
        "neumann" => meltr("type = \"neumann\"\nterms = 3\nalpha = 0.001"),
        "cg" => meltr("type = \"conjugate_gradient\"\niters = 3\ndamping = 0.1"),
        "unrolled" => meltr("type = \"unrolled\"\nlr = 0.01"),
        other => unreachable!("unknown method {other}"),
    };
    let tasks_line = if method.name == "primary" {
        String::new()
    } else {
        format!("tasks = {}\n", list(tasks))
    };
    // Every run's curves for `tensorboard --logdir <compare folder>`,
    // unless the base run file says otherwise.
    let has_switch = base
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("tensorboard"));
    let tensorboard = if has_switch {
        ""
    } else {
        "tensorboard = true\n"
    };
    format!("{base}\nseed = {seed}\n{tensorboard}{tasks_line}{body}")
}

/// One method's row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The method's short name.
    pub method: String,
    /// What it is.
    pub label: String,
    /// The headline metric's name (`R@1`, `accuracy`).
    pub metric: String,
    /// The headline test metric per seed.
    pub test: Vec<f32>,
    /// Its mean.
    pub test_mean: f32,
    /// Half its range over seeds.
    pub test_spread: f32,
    /// Mean headline validation metric (what settings are chosen on).
    pub val_mean: f32,
    /// Mean seconds per epoch (training only).
    pub epoch_seconds: f64,
    /// Epoch time relative to the plain sum.
    pub time_vs_sum: f64,
    /// Peak resident memory, MiB.
    pub peak_mib: f64,
    /// Peak memory relative to the plain sum.
    pub memory_vs_sum: f64,
}

/// Builds the rows from each method's summaries (one per seed).
pub fn rows(results: &[(Method, Vec<RunSummary>)]) -> Vec<Row> {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mut rows: Vec<Row> = results
        .iter()
        .map(|(m, runs)| {
            let metric = runs
                .first()
                .map(|r| r.final_test.headline().0)
                .unwrap_or("R@1");
            let r1: Vec<f32> = runs.iter().map(|r| r.final_test.headline().1).collect();
            let (lo, hi) = r1
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let val: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.epochs.last())
                .filter_map(|e| e.val.as_ref())
                .map(|v| v.headline().1 as f64)
                .collect();
            let secs: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.epochs.iter().map(|e| e.seconds))
                .collect();
            let peak: Vec<f64> = runs.iter().map(|r| r.peak_rss_mib).collect();
            Row {
                method: m.name.into(),
                label: m.label.into(),
                metric: metric.into(),
                test_mean: mean(&r1.iter().map(|x| *x as f64).collect::<Vec<_>>()) as f32,
                test_spread: (hi - lo) / 2.0,
                test: r1,
                val_mean: mean(&val) as f32,
                epoch_seconds: mean(&secs),
                time_vs_sum: f64::NAN,
                peak_mib: mean(&peak),
                memory_vs_sum: f64::NAN,
            }
        })
        .collect();
    if let Some(sum) = rows.iter().find(|r| r.method == "sum").cloned() {
        for r in &mut rows {
            r.time_vs_sum = r.epoch_seconds / sum.epoch_seconds;
            r.memory_vs_sum = r.peak_mib / sum.peak_mib;
        }
    }
    rows
}

/// The table in markdown.
pub fn markdown(rows: &[Row], seeds: usize) -> String {
    let metric = rows.first().map(|r| r.metric.as_str()).unwrap_or("R@1");
    let mut s = format!(
        "| method | test {metric} (mean ± half-range, {seeds} seed{}) | val {metric} | epoch time vs sum | peak memory vs sum |\n|---|---|---|---|---|\n",
        if seeds == 1 { "" } else { "s" }
    );
    let ratio = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}×")
        } else {
            "—".into()
        }
    };
    for r in rows {
        s += &format!(
            "| {} | {:.1} ± {:.1} | {:.1} | {} ({:.2} s) | {} ({:.0} MiB) |\n",
            r.label,
            r.test_mean,
            r.test_spread,
            r.val_mean,
            ratio(r.time_vs_sum),
            r.epoch_seconds,
            ratio(r.memory_vs_sum),
            r.peak_mib
        );
    }
    if seeds > 1 {
        s += &per_seed(rows, seeds);
    }
    s
}

/// Each seed's test metric, and each method's per-seed difference from
/// the plain sum and from the primary task alone (when they were run).
fn per_seed(rows: &[Row], seeds: usize) -> String {
    let metric = rows.first().map(|r| r.metric.as_str()).unwrap_or("R@1");
    let cols: String = (0..seeds).map(|i| format!(" seed #{} |", i + 1)).collect();
    let mut s = format!(
        "\nPer seed (test {metric}; differences are per seed):\n\n| method |{cols}\n|---|{}\n",
        "---|".repeat(seeds)
    );
    let line = |label: String, v: Vec<f32>| {
        let cells: String = v.iter().map(|x| format!(" {x:.1} |")).collect();
        format!("| {label} |{cells}\n")
    };
    for r in rows {
        s += &line(r.label.clone(), r.test.clone());
    }
    for base in ["sum", "primary"] {
        let Some(b) = rows.iter().find(|r| r.method == base) else {
            continue;
        };
        for r in rows
            .iter()
            .filter(|r| r.method != base && r.method != "primary")
        {
            let d = r.test.iter().zip(&b.test).map(|(x, y)| x - y).collect();
            s += &line(format!("{} − {}", r.method, base), d);
        }
    }
    s
}

/// Writes `compare.md` and `compare.json` into `out` atomically.
pub fn write(rows: &[Row], seeds: usize, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    crate::atomic::write_atomic(&out.join("compare.md"), markdown(rows, seeds).as_bytes())?;
    let json = serde_json::to_string_pretty(rows).expect("rows serialise");
    crate::atomic::write_atomic(&out.join("compare.json"), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, test: Vec<f32>) -> Row {
        Row {
            method: method.into(),
            label: method.into(),
            metric: "accuracy".into(),
            test_mean: 0.0,
            test_spread: 0.0,
            test,
            val_mean: 0.0,
            epoch_seconds: 1.0,
            time_vs_sum: 1.0,
            peak_mib: 1.0,
            memory_vs_sum: 1.0,
        }
    }

    #[test]
    fn the_per_seed_table_gives_each_methods_differences() {
        let rows = [
            row("primary", vec![50.0, 60.0]),
            row("sum", vec![55.0, 58.0]),
            row("meltr", vec![57.5, 57.0]),
        ];
        let md = markdown(&rows, 2);
        assert!(md.contains("| meltr | 57.5 | 57.0 |"), "{md}");
        assert!(md.contains("| meltr − sum | 2.5 | -1.0 |"), "{md}");
        assert!(md.contains("| meltr − primary | 7.5 | -3.0 |"), "{md}");
        assert!(md.contains("| sum − primary | 5.0 | -2.0 |"), "{md}");
        assert!(!markdown(&rows, 1).contains("Per seed"));
    }
}
