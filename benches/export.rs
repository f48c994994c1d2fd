//! Speed of an exported head: one `evaluate` (value + per-task weights) in
//! the sandbox against the native head, and the time to compute a 50×50
//! surface (figure 7). Plain timing loop (median of runs), no harness:
//!
//!     cargo bench -p meltr-benches --bench export            # every preset
//!     cargo bench -p meltr-benches --bench export -- univl   # one preset
//!
//! Targets (issue 6): sandbox ≤ 2× native per evaluation; surface ≤ 5 s.

use meltr::export::{export_component, ExportOptions, Simd};
use meltr::head::{init_weights, Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use meltr::viewer::{analysis, Limits, SandboxedHead};
use std::time::Instant;

/// Median seconds per call of `f` over `runs` runs (after 3 warm-up calls).
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (preset, k) in [
        (Preset::Univl, 8),
        (Preset::Violet, 3),
        (Preset::Allinone, 2),
        (Preset::Paper, 8),
    ] {
        if !filter.is_empty() && !filter.iter().any(|f| f == preset.name()) {
            continue;
        }
        let w = init_weights(preset.dims(), k, 1).unwrap();
        let l: Vec<f32> = (0..k).map(|i| 0.5 + i as f32 * 0.3).collect();
        // The native head (dfdx): value + weights, and value only.
        let m = Meltr::from_weights(w.clone()).unwrap();
        let native = median(200, || {
            std::hint::black_box(m.eval(&l).unwrap());
        });
        let native_fwd = median(200, || {
            std::hint::black_box(m.value(&l).unwrap());
        });
        println!(
            "{:<9} K={k:<2} native       evaluate {:>8.1} µs  eval {:>8.1} µs",
            preset.name(),
            native * 1e6,
            native_fwd * 1e6
        );
        for simd in [Simd::V128, Simd::RelaxedMadd, Simd::Scalar] {
            let t = Instant::now();
            let bytes = export_component(&w, &ExportOptions { simd }).unwrap();
            let export_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut head = SandboxedHead::from_bytes(&bytes, &Limits::default(), "bench").unwrap();
            let load_s = t.elapsed().as_secs_f64();
            let eval = median(200, || {
                std::hint::black_box(head.evaluate(&l).unwrap());
            });
            let fwd = median(200, || {
                std::hint::black_box(head.eval(&l).unwrap());
            });
            let fuel = head.fuel_used_last_call();
            let at = vec![1.0; k];
            let t = Instant::now();
            let s = analysis::surface(&mut head, &at, (0, 1), (0.0, 2.0), (0.0, 2.0), 50).unwrap();
            let surf = t.elapsed().as_secs_f64();
            std::hint::black_box(s);
            print!(
                "{:<9} K={k:<2} {:<12} export {:>6.1} ms  load {:>6.1} ms  evaluate {:>8.1} µs  eval {:>8.1} µs ({fuel} fuel)  50x50 surface {:>6.3} s",
                preset.name(),
                format!("{simd:?}"),
                export_s * 1e3,
                load_s * 1e3,
                eval * 1e6,
                fwd * 1e6,
                surf
            );
            print!(
                "  native {:>8.1} µs  ratio {:.2}",
                native * 1e6,
                eval / native
            );
            println!();
        }
    }
}
