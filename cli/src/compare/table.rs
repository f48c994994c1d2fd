//! The comparison's table: the data set's headline test metric (R@1 or
//! accuracy; mean with its 95 % confidence interval over seeds), epoch time
//! and peak memory relative to the plain multi-task sum, and each method's
//! paired difference, seed by seed, against the plain sum and against the
//! best method that is not MELTR (best by validation, never by test).

use super::methods::{is_meltr, Method};
use super::stats::{MeanCi, Paired};
use meltr::train::RunSummary;
use meltr::{Error, Result};
use serde::Serialize;
use std::path::Path;

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
    /// Its mean and 95 % confidence interval over seeds.
    pub test_ci: MeanCi,
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
                test_ci: MeanCi::of(&f64s(&r1)),
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
        "| method | test {metric} (mean ± 95 % CI, {seeds} seed{}) | val {metric} | epoch time vs sum | peak memory vs sum |\n|---|---|---|---|---|\n",
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
            "| {} | {} | {:.1} | {} ({:.2} s) | {} ({:.0} MiB) |\n",
            r.label,
            r.test_ci.show(),
            r.val_mean,
            ratio(r.time_vs_sum),
            r.epoch_seconds,
            ratio(r.memory_vs_sum),
            r.peak_mib
        );
    }
    s += &paired_table(rows);
    if seeds > 1 {
        s += &per_seed(rows, seeds);
    }
    s
}

/// The method that is not MELTR with the best mean validation metric
/// (test scores are never looked at to choose it).
pub fn best_baseline(rows: &[Row]) -> Option<&Row> {
    rows.iter()
        .filter(|r| !is_meltr(&r.method))
        .max_by(|a, b| a.val_mean.total_cmp(&b.val_mean))
}

/// Each method's paired difference against the plain sum and against the
/// best method that is not MELTR: mean, 95 % CI, wins and losses.
fn paired_table(rows: &[Row]) -> String {
    let metric = rows.first().map(|r| r.metric.as_str()).unwrap_or("R@1");
    let sum = rows.iter().find(|r| r.method == "sum");
    let best = best_baseline(rows);
    if sum.is_none() && best.is_none() {
        return String::new();
    }
    let name = |b: Option<&Row>| b.map(|b| b.method.clone()).unwrap_or_else(|| "—".into());
    let mut s = format!(
        "\nPaired differences in test {metric} (mean ± 95 % CI over seeds; wins/losses) against \
         the plain sum and the best non-MELTR method, chosen by mean validation {metric} \
         (never by test): {}\n\n| method | − sum | − best non-MELTR ({}) |\n|---|---|---|\n",
        name(best),
        name(best)
    );
    let cell = |r: &Row, base: Option<&Row>| match base {
        Some(b) if b.method != r.method => {
            let p = Paired::of(&f64s(&r.test), &f64s(&b.test));
            format!(
                "{:+.1}{} ({}/{})",
                p.diff.mean,
                p.diff
                    .half
                    .map(|h| format!(" ± {h:.1}"))
                    .unwrap_or_default(),
                p.wins,
                p.losses
            )
        }
        _ => "—".into(),
    };
    for r in rows {
        s += &format!("| {} | {} | {} |\n", r.label, cell(r, sum), cell(r, best));
    }
    s
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
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
    meltr::atomic::write_atomic(&out.join("compare.md"), markdown(rows, seeds).as_bytes())?;
    let json = serde_json::to_string_pretty(rows).expect("rows serialise");
    meltr::atomic::write_atomic(&out.join("compare.json"), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, test: Vec<f32>) -> Row {
        Row {
            method: method.into(),
            label: method.into(),
            metric: "accuracy".into(),
            test_ci: MeanCi::of(&f64s(&test)),
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

    #[test]
    fn paired_differences_are_against_the_sum_and_the_best_baseline_by_validation() {
        let mut rows = vec![
            row("sum", vec![50.0, 52.0, 51.0]),
            row("uw", vec![49.0, 53.0, 52.0]),
            row("dwa", vec![60.0, 60.0, 60.0]),
            row("meltr", vec![51.0, 54.0, 52.0]),
        ];
        // dwa has the best test score, uw the best validation: uw is chosen.
        rows[1].val_mean = 40.0;
        rows[2].val_mean = 30.0;
        rows[3].val_mean = 99.0;
        assert_eq!(best_baseline(&rows).unwrap().method, "uw");
        let md = markdown(&rows, 3);
        // meltr − sum: 1, 2, 1 → mean 1.33, s = 0.577, t(2) = 4.303: ± 1.43.
        assert!(
            md.contains("| meltr | +1.3 ± 1.4 (3/0) | +1.0 ± 2.5 (2/0) |"),
            "{md}"
        );
        assert!(md.contains("| uw | +0.3 ± 2.9 (2/1) | — |"), "{md}");
        assert!(
            md.contains("chosen by mean validation accuracy (never by test): uw")
                && md.contains("| method | − sum | − best non-MELTR (uw) |"),
            "{md}"
        );
        let one = markdown(&[row("sum", vec![50.0]), row("meltr", vec![52.0])], 1);
        assert!(one.contains("| meltr | +2.0 (1/0) |"), "{one}");
    }
}
