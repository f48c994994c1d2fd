//! Reads the per-task weights over training (paper figure 4) from a
//! JSON-lines training log.
//!
//! A line counts if it is a JSON object with an integer `step` and an array
//! `weights` of K numbers (`∂f/∂l_k`, one per task); `losses` (K numbers),
//! when present, gives the typical loss values. Other lines (epoch
//! summaries, blank lines) are skipped; a line that is not JSON is an error
//! naming its number, except an unterminated last line: a run that was
//! killed, or is still writing, can end its log with part of a line (Linux
//! cuts a `write` at a page boundary when SIGKILL arrives), so that one is
//! skipped.
//!
//! ```
//! let log = "{\"step\": 0, \"weights\": [1.0, 0.5], \"losses\": [2.0, 3.0]}\n\
//!            {\"epoch\": 0}\n\
//!            {\"step\": 3, \"weights\": [0.9, 0.6], \"losses\": [1.0, 2.0]}\n";
//! let t = meltr::viewer::TrainingLog::parse(log, 2, "run.jsonl".as_ref()).unwrap();
//! assert_eq!(t.steps, vec![0, 3]);
//! assert_eq!(t.weights[1], vec![0.5, 0.6]);
//! assert_eq!(t.typical_losses(), Some(vec![1.5, 2.5]));
//! ```

use crate::error::{Error, Result};
use std::path::Path;

/// Per-task weights (and losses, where logged) over training.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingLog {
    /// The step of each record.
    pub steps: Vec<u64>,
    /// `weights[k][i]`: task k's weight at record i.
    pub weights: Vec<Vec<f32>>,
    /// `losses[k][i]`, for the records that logged losses.
    pub losses: Vec<Vec<f32>>,
}

impl TrainingLog {
    /// Reads the log at `path` for a head with `k` tasks.
    pub fn load(path: &Path, k: usize) -> Result<TrainingLog> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, k, path)
    }

    /// Parses log text; `path` is used in error messages.
    pub fn parse(text: &str, k: usize, path: &Path) -> Result<TrainingLog> {
        let bad = |line: usize, message: String| Error::Config {
            path: path.into(),
            message: format!("line {line}: {message}"),
        };
        let mut log = TrainingLog {
            steps: vec![],
            weights: vec![vec![]; k],
            losses: vec![vec![]; k],
        };
        let lines: Vec<&str> = text.lines().collect();
        let torn = !text.ends_with('\n');
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) if torn && i + 1 == lines.len() => continue,
                Err(e) => return Err(bad(i + 1, e.to_string())),
            };
            let (Some(step), Some(w)) = (
                v.get("step").and_then(|s| s.as_u64()),
                v.get("weights").and_then(|w| w.as_array()),
            ) else {
                continue;
            };
            let nums = |a: &Vec<serde_json::Value>, what: &str| -> Result<Vec<f32>> {
                if a.len() != k {
                    return Err(bad(
                        i + 1,
                        format!("`{what}` has {} values, the head takes {k}", a.len()),
                    ));
                }
                a.iter()
                    .map(|x| {
                        x.as_f64()
                            .map(|x| x as f32)
                            .ok_or_else(|| bad(i + 1, format!("`{what}` holds a non-number {x}")))
                    })
                    .collect()
            };
            let w = nums(w, "weights")?;
            log.steps.push(step);
            for (t, x) in w.into_iter().enumerate() {
                log.weights[t].push(x);
            }
            if let Some(l) = v.get("losses").and_then(|l| l.as_array()) {
                for (t, x) in nums(l, "losses")?.into_iter().enumerate() {
                    log.losses[t].push(x);
                }
            }
        }
        if log.steps.is_empty() {
            return Err(bad(
                0,
                "no record with `step` and `weights` (expected JSON lines like {\"step\": 3, \"weights\": [..K numbers..]})".into(),
            ));
        }
        Ok(log)
    }

    /// The median logged loss of each task, if losses were logged.
    pub fn typical_losses(&self) -> Option<Vec<f32>> {
        self.losses
            .iter()
            .map(|l| {
                let mut v: Vec<f32> = l.iter().copied().filter(|x| x.is_finite()).collect();
                if v.is_empty() {
                    return None;
                }
                v.sort_by(f32::total_cmp);
                let n = v.len();
                Some(if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "{\"step\": 0, \"weights\": [1.0, 0.5]}";
    const B: &str = "{\"step\": 3, \"weights\": [0.9, 0.6]}";

    fn parse(text: &str) -> Result<TrainingLog> {
        TrainingLog::parse(text, 2, "log.jsonl".as_ref())
    }

    #[test]
    fn a_killed_runs_partial_last_line_is_skipped() {
        let torn = &B[..B.len() / 2];
        let log = parse(&format!("{A}\n{torn}")).unwrap();
        assert_eq!(log.steps, vec![0]);
        // A whole last record without its newline still counts.
        let log = parse(&format!("{A}\n{B}")).unwrap();
        assert_eq!(log.steps, vec![0, 3]);
    }

    #[test]
    fn a_broken_line_before_the_end_is_an_error_naming_it() {
        let torn = &B[..B.len() / 2];
        let e = parse(&format!("{A}\n{torn}\n{B}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("log.jsonl") && e.contains("line 2"), "{e}");
        // Terminated, a partial line is not a kill's cut: an error too.
        let e = parse(&format!("{A}\n{torn}\n")).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
