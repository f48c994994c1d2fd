//! SVG drawings of the report's figures (plotters, SVG backend; no fonts
//! needed — text is left to the browser).

use super::analysis::{Surface, Sweep};
use super::training_log::TrainingLog;
use crate::error::{Error, Result};
use plotters::prelude::*;

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("drawing a plot: {e}"))
}

/// The viridis colour map at `t` in [0, 1] (linear between 9 anchors).
fn viridis(t: f32) -> RGBColor {
    const ANCHORS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 45, 123),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let x = t.clamp(0.0, 1.0) * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f32;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |p: u8, q: u8| (p as f32 + (q as f32 - p as f32) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// `(min, max)` of the finite values, widened when flat.
fn bounds<'a>(values: impl IntoIterator<Item = &'a f32>) -> (f32, f32) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6 * lo.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// Lines `y_k(x)` for several series on one chart.
fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f32, f32)>)],
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (x0, x1) = bounds(series.iter().flat_map(|s| s.1.iter().map(|p| &p.0)));
        let (y0, y1) = bounds(series.iter().flat_map(|s| s.1.iter().map(|p| &p.1)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(plot_err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().copied().filter(|p| p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Each sweep's points `(l_k / typical_k, y)`: tasks whose losses differ
/// by orders of magnitude share one x axis without flattening.
fn relative(sweeps: &[Sweep], y: impl Fn(&Sweep) -> &[f32]) -> Vec<(String, Vec<(f32, f32)>)> {
    sweeps
        .iter()
        .map(|w| {
            let scale = if w.typical > 0.0 { w.typical } else { 1.0 };
            let pts = w.x.iter().map(|x| x / scale).zip(y(w).iter().copied());
            (w.name.clone(), pts.collect())
        })
        .collect()
}

/// Figure 3, left: `f` against each `l_k`.
pub fn sweep_values(sweeps: &[Sweep]) -> Result<String> {
    lines(
        "Learned loss f against each input loss (others at typical values)",
        "input loss l_k / its typical value",
        "f(l)",
        &relative(sweeps, |w| &w.value),
    )
}

/// Figure 3, right: `∂f/∂l_k` against `l_k`.
pub fn sweep_weights(sweeps: &[Sweep]) -> Result<String> {
    lines(
        "Per-task weight df/dl_k against l_k",
        "input loss l_k / its typical value",
        "df/dl_k",
        &relative(sweeps, |w| &w.weight),
    )
}

/// Figure 4: each task's weight over training.
pub fn weights_over_training(log: &TrainingLog, names: &[String]) -> Result<String> {
    let s: Vec<_> = log
        .weights
        .iter()
        .zip(names)
        .map(|(w, n)| {
            (
                n.clone(),
                log.steps
                    .iter()
                    .map(|&s| s as f32)
                    .zip(w.iter().copied())
                    .collect(),
            )
        })
        .collect();
    lines("Per-task weight over training", "step", "df/dl_k", &s)
}

/// Figure 7: the learned surface beside the plain sum, each with its own
/// colour scale (viridis) and 12 iso-bands.
pub fn surface(s: &Surface, names: &[String]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 470)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let panels = root.split_evenly((1, 2));
        let (nx, ny) = (&names[s.pair.0], &names[s.pair.1]);
        for (area, (grid, title)) in panels.iter().zip([
            (&s.value, "learned loss f"),
            (&s.sum, "plain sum of losses"),
        ]) {
            let (lo, hi) = bounds(grid.iter().flatten());
            let n = s.x.len();
            let dx = (s.x[n - 1] - s.x[0]) / (n - 1) as f32;
            let dy = (s.y[n - 1] - s.y[0]) / (n - 1) as f32;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title} ({lo:.3} .. {hi:.3})"), ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(
                    s.x[0] - dx / 2.0..s.x[n - 1] + dx / 2.0,
                    s.y[0] - dy / 2.0..s.y[n - 1] + dy / 2.0,
                )
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(nx.as_str())
                .y_desc(ny.as_str())
                .draw()
                .map_err(plot_err)?;
            let cells = grid
                .iter()
                .enumerate()
                .flat_map(|(j, row)| row.iter().enumerate().map(move |(i, &v)| (i, j, v)));
            chart
                .draw_series(cells.map(|(i, j, v)| {
                    let t = if hi > lo {
                        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    // 12 bands, so level sets show as edges
                    let t = ((t * 12.0).floor().min(11.0)) / 11.0;
                    let c = viridis(t);
                    let (x, y) = (s.x[i], s.y[j]);
                    Rectangle::new(
                        [(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)],
                        c.filled(),
                    )
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
