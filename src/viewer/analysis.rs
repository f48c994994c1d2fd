//! The numbers behind the report, computed by calling the sandboxed head:
//!
//! * [`sweeps`] — paper figure 3: the output `f` and the per-task weight
//!   `∂f/∂l_k` as `l_k` sweeps its range, the other losses held at typical
//!   values;
//! * [`surface`] — paper figure 7: `f` over a grid of two losses, beside the
//!   plain sum `Σ_k l_k` on the same grid.

use super::SandboxedHead;
use crate::error::{Error, Result};
use serde::Serialize;

/// One task's sweep (figure 3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    /// Task index.
    pub task: usize,
    /// Task name.
    pub name: String,
    /// The typical value of `l_k` (the others are held at theirs); figure
    /// 3 draws `x / typical`, so tasks of any scale span the chart.
    pub typical: f32,
    /// The values of `l_k`.
    pub x: Vec<f32>,
    /// `f` at each point.
    pub value: Vec<f32>,
    /// `∂f/∂l_k` at each point.
    pub weight: Vec<f32>,
}

/// `f` over a grid of two losses (figure 7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Surface {
    /// The two task indices (x axis, y axis).
    pub pair: (usize, usize),
    /// Grid coordinates of the first loss.
    pub x: Vec<f32>,
    /// Grid coordinates of the second loss.
    pub y: Vec<f32>,
    /// `f`, row `j` (y) major: `value[j][i]` at `(x[i], y[j])`.
    pub value: Vec<Vec<f32>>,
    /// The plain sum `Σ_k l_k` on the same grid.
    pub sum: Vec<Vec<f32>>,
}

/// `n` evenly spaced points over `[lo, hi]` (n >= 2).
pub fn linspace(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        .collect()
}

fn check_range(lo: f32, hi: f32, n: usize, what: &str) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::InvalidSetting {
            field: format!("{what} range"),
            value: format!("{lo}:{hi}"),
            reason: "expected two finite numbers, low < high".into(),
        });
    }
    if !(2..=10_000).contains(&n) {
        return Err(Error::InvalidSetting {
            field: format!("{what} points"),
            value: n.to_string(),
            reason: "expected 2 to 10000".into(),
        });
    }
    Ok(())
}

/// Figure 3: every task swept over `ranges[k]` with `n` points, the others
/// at `at`.
pub fn sweeps(
    head: &mut SandboxedHead,
    at: &[f32],
    ranges: &[(f32, f32)],
    n: usize,
) -> Result<Vec<Sweep>> {
    let k = head.num_tasks();
    crate::error::check_finite("typical losses", at, k)?;
    let names = head.task_names().to_vec();
    let mut out = Vec::with_capacity(k);
    for (task, &(lo, hi)) in ranges.iter().enumerate().take(k) {
        check_range(lo, hi, n, "sweep")?;
        let x = linspace(lo, hi, n);
        let (mut value, mut weight) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut l = at.to_vec();
        for &xi in &x {
            l[task] = xi;
            let e = head.evaluate(&l)?;
            value.push(e.value);
            weight.push(e.weights[task]);
        }
        out.push(Sweep {
            task,
            name: names[task].clone(),
            typical: at[task],
            x,
            value,
            weight,
        });
    }
    Ok(out)
}

/// Figure 7: `f` on an `n x n` grid over losses `pair` (ranges `rx`, `ry`),
/// the others at `at`.
pub fn surface(
    head: &mut SandboxedHead,
    at: &[f32],
    pair: (usize, usize),
    rx: (f32, f32),
    ry: (f32, f32),
    n: usize,
) -> Result<Surface> {
    let k = head.num_tasks();
    crate::error::check_finite("typical losses", at, k)?;
    if pair.0 >= k || pair.1 >= k || pair.0 == pair.1 {
        return Err(Error::InvalidSetting {
            field: "pair".into(),
            value: format!("{},{}", pair.0, pair.1),
            reason: format!("expected two different task indices below {k}"),
        });
    }
    check_range(rx.0, rx.1, n, "surface")?;
    check_range(ry.0, ry.1, n, "surface")?;
    let (x, y) = (linspace(rx.0, rx.1, n), linspace(ry.0, ry.1, n));
    let mut l = at.to_vec();
    let mut value = Vec::with_capacity(n);
    let mut sum = Vec::with_capacity(n);
    for &yj in &y {
        let (mut row, mut srow) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for &xi in &x {
            l[pair.0] = xi;
            l[pair.1] = yj;
            row.push(head.eval(&l)?);
            srow.push(l.iter().sum());
        }
        value.push(row);
        sum.push(srow);
    }
    Ok(Surface {
        pair,
        x,
        y,
        value,
        sum,
    })
}
