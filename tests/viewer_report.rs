//! The report: its numbers are the head's, its files are all there, and a
//! 50x50 surface renders within the 5 s target.
#![cfg(feature = "viewer")]

use crate::export_support;

use meltr::export::{export_component, ExportOptions};
use meltr::head::{init_weights, Preset};
use meltr::viewer::{write_report, Limits, ReportOptions, SandboxedHead};

#[test]
fn report_numbers_are_the_heads_and_every_file_is_written() {
    let w = init_weights(Preset::Allinone.dims(), 3, 5).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "t.wasm").unwrap();
    let out = std::env::temp_dir().join(format!("meltr-report-{}", std::process::id()));
    let opts = ReportOptions {
        at: Some(vec![0.5, 1.0, 2.0]),
        pair: Some((2, 0)),
        grid: 12,
        points: 21,
        ..ReportOptions::default()
    };
    let r = write_report(&mut head, &opts, &out).unwrap();
    for f in [
        "fig3_value.svg",
        "fig3_weights.svg",
        "fig7_surface.svg",
        "index.html",
        "report.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
        assert!(r.files.iter().any(|g| g == f), "{f}");
    }
    assert!(
        !out.join("fig4_weights.svg").exists(),
        "no log, no figure 4"
    );
    // figure 3: task 1 swept over [0, 2 * 1.0], the others at `at`
    let s = &r.sweeps[1];
    assert_eq!((s.x[0], s.x[20]), (0.0, 2.0));
    let e = head.evaluate(&[0.5, s.x[7], 2.0]).unwrap();
    assert_eq!((s.value[7], s.weight[7]), (e.value, e.weights[1]));
    // and it is the head's value, as the f64 reference computes it
    let v = export_support::reference_value(&w, &[0.5, s.x[7] as f64, 2.0]);
    assert!(
        (s.value[7] as f64 - v).abs() < 1e-5 * v.abs().max(1e-2),
        "{} vs {v}",
        s.value[7]
    );
    // figure 7: value[j][i] at (x_i, y_j) for tasks (2, 0); the plain sum beside it
    let sf = r.surface.as_ref().unwrap();
    assert_eq!(sf.pair, (2, 0));
    let (i, j) = (3, 9);
    let l = [sf.y[j], 1.0, sf.x[i]];
    assert_eq!(sf.value[j][i], head.eval(&l).unwrap());
    assert_eq!(sf.sum[j][i], l.iter().sum::<f32>());
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<img src=\"fig7_surface.svg\"") && html.contains("task0"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_report_settings_are_errors_not_panics() {
    let w = init_weights(Preset::Allinone.dims(), 2, 5).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "t.wasm").unwrap();
    let out = std::env::temp_dir().join(format!("meltr-report-bad-{}", std::process::id()));
    let bad = [
        ReportOptions {
            pair: Some((0, 5)),
            ..Default::default()
        },
        ReportOptions {
            pair: Some((1, 1)),
            ..Default::default()
        },
        ReportOptions {
            at: Some(vec![1.0]),
            ..Default::default()
        },
        ReportOptions {
            range: Some((2.0, 1.0)),
            ..Default::default()
        },
        ReportOptions {
            grid: 1,
            ..Default::default()
        },
        ReportOptions {
            points: 0,
            ..Default::default()
        },
        ReportOptions {
            log: Some("/nonexistent/run.jsonl".into()),
            ..Default::default()
        },
    ];
    for o in bad {
        let e = write_report(&mut head, &o, &out).unwrap_err().to_string();
        assert!(!e.contains('\n') && !e.is_empty(), "{e}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_50x50_univl_surface_renders_within_5_seconds() {
    let w = init_weights(Preset::Univl.dims(), 8, 5).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "t.wasm").unwrap();
    let t = std::time::Instant::now();
    let s =
        meltr::viewer::analysis::surface(&mut head, &[1.0; 8], (0, 1), (0.0, 2.0), (0.0, 2.0), 50)
            .unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!("50x50 univl surface: {secs:.2} s");
    assert_eq!(s.value.len(), 50);
    assert!(secs < 5.0, "{secs} s");
}

/// The x extent of each 2-px `<polyline>` in an SVG (plotters draws one per
/// series, then one per legend entry; the mesh is 1 px).
fn polyline_widths(svg: &str) -> Vec<f64> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.split('>').next().unwrap().contains("stroke-width=\"2\""))
        .map(|p| {
            let pts = p
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let xs: Vec<f64> = pts
                .split_whitespace()
                .map(|xy| xy.split(',').next().unwrap().parse().unwrap())
                .collect();
            xs.iter().cloned().fold(f64::MIN, f64::max)
                - xs.iter().cloned().fold(f64::MAX, f64::min)
        })
        .collect()
}

#[test]
fn figure_3_shows_every_task_whatever_its_scale() {
    // the few-shot preset's scales: a primary loss near 2, rotation near 0.0015
    let w = init_weights(Preset::Allinone.dims(), 3, 5).unwrap();
    let bytes = export_component(&w, &ExportOptions::default()).unwrap();
    let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "t.wasm").unwrap();
    let out = std::env::temp_dir().join(format!("meltr-report-scales-{}", std::process::id()));
    let opts = ReportOptions {
        at: Some(vec![2.0, 0.6, 0.0015]),
        grid: 4,
        points: 11,
        ..ReportOptions::default()
    };
    let r = write_report(&mut head, &opts, &out).unwrap();
    // each task swept over [0, 2 x its typical value]
    assert!((r.sweeps[2].x[10] - 0.003).abs() < 1e-9);
    assert_eq!(r.sweeps[2].typical, 0.0015);
    for f in ["fig3_value.svg", "fig3_weights.svg"] {
        let mut widths = polyline_widths(&std::fs::read_to_string(out.join(f)).unwrap());
        // the three curves, then the legend's three short lines
        assert_eq!(widths.len(), 6, "{f}: {widths:?}");
        widths.truncate(3);
        let widest = widths.iter().cloned().fold(0.0, f64::max);
        assert!(widest > 300.0, "{f}: {widths:?}");
        for (k, w) in widths.iter().enumerate() {
            assert!(*w > 0.95 * widest, "{f}: task {k} spans {w} of {widest} px");
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}
