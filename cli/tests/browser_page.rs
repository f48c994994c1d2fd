//! The live page as a user sees it: `meltr export`, `meltr view`, then
//! `index.html` opened from disk in headless Chromium (Debian's
//! `chromium`). The values the page shows equal `meltr head inspect`'s
//! (to 1e-5 relative) and the wasmtime sandbox's (bit for bit),
//! moving a slider changes them, and a non-finite or empty loss shows the
//! head's contract error. Skips with a message where Chromium is missing,
//! except under CI (`CI=true`), where that fails.
//!
//! `MELTR_PAGE_SCREENSHOT=docs/page.png` also saves the page's screenshot
//! there (the README's picture).
#![cfg(feature = "viewer")]

use meltr::head::{init_weights, HeadInfo, Preset};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn meltr(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Headless Chromium on `url` with a fresh profile; `extra` adds flags
/// (`--dump-dom`, `--screenshot=...`). Returns stdout.
fn browse(chrome: &Path, profile: &Path, url: &str, extra: &[&str]) -> String {
    let o = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // wait for the page's asynchronous WebAssembly start
            "--virtual-time-budget=20000",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The text of the element `<tag id=ID>` in a dumped DOM.
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let open = format!("<{tag} id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in the page:\n{dom}"))
        + open.len();
    let end = start + dom[start..].find(&format!("</{tag}>")).unwrap();
    &dom[start..end]
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// What the page shows: its `values` record, after checking the visible
/// numbers say the same.
fn shown(dom: &str) -> Value {
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not start:\n{dom}"
    );
    let v: Value = serde_json::from_str(&unescape(element(dom, "pre", "values"))).unwrap();
    if v.get("error").is_none() {
        let visible: f64 = element(dom, "span", "value").parse().unwrap();
        let f = v["value"].as_f64().unwrap();
        assert!(
            (visible - f).abs() <= 1e-6 * f.abs().max(1e-6),
            "{visible} vs {f}"
        );
    }
    v
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn the_page_runs_the_head_in_chromium() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no chromium on PATH: .ci/run installs Debian's `chromium`"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH (apt-get install chromium) — the page was not tested"
        );
        return;
    };
    let d = std::env::temp_dir().join(format!("meltr-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let mut w = init_weights(Preset::Allinone.dims(), 3, 11).unwrap();
    w.info = HeadInfo {
        task_names: vec!["retrieval".into(), "cmlm".into(), "rotation".into()],
        primary: Some(0),
        steps: 40,
        seed: Some(11),
    };
    let weights = d.join("head.safetensors");
    w.save(&weights).unwrap();
    let (wasm, report) = (d.join("head.wasm"), d.join("report"));
    let s = |p: &Path| p.display().to_string();
    meltr(&["export", "--weights", &s(&weights), "--out", &s(&wasm)]);
    let log = d.join("log.jsonl");
    std::fs::write(
        &log,
        "{\"kind\":\"step\",\"step\":1,\"weights\":[1,0.9,0.4],\"losses\":[2.1,3.0,0.0015]}\n\
         {\"kind\":\"step\",\"step\":2,\"weights\":[1.1,0.8,0.5],\"losses\":[1.9,2.6,0.0012]}\n",
    )
    .unwrap();
    meltr(&[
        "view",
        &s(&wasm),
        "--log",
        &s(&log),
        "--out",
        &s(&report),
        "--grid",
        "8",
        "--points",
        "9",
    ]);
    let page = format!("file://{}", s(&report.join("index.html")));
    let profile = d.join("profile");
    let native = |l: &[f64]| -> (f64, Vec<f64>) {
        let l: Vec<String> = l.iter().map(|x| (*x as f32).to_string()).collect();
        let out = meltr(&[
            "head",
            "inspect",
            "--weights",
            &s(&weights),
            "--losses",
            &l.join(","),
            "--json",
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        (v["value"].as_f64().unwrap(), floats(&v["weights"]))
    };
    // The sandbox runs the same artifact: the page should match it too.
    let mut sandbox =
        meltr::viewer::SandboxedHead::load(&wasm, &meltr::viewer::Limits::default()).unwrap();
    let mut worst = 0.0f64;
    let mut check = |v: &Value| {
        let losses = floats(&v["losses"]);
        let (value, weights) = native(&losses);
        let page_w = floats(&v["weights"]);
        let page_v = v["value"].as_f64().unwrap();
        // value relative to itself, weights to the vector's largest entry
        // (a weight near zero is a difference of larger terms); floors 1e-2
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-2);
        let rel_vec = |a: &[f64], b: &[f64]| {
            let scale = b.iter().fold(1e-2f64, |m, x| m.max(x.abs()));
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
                / scale
        };
        let m = rel(page_v, value).max(rel_vec(&page_w, &weights));
        assert!(
            m <= 1e-5,
            "page {v} vs native {value} {weights:?}: {m:e} relative"
        );
        worst = worst.max(m);
        // and bit for bit the wasmtime sandbox's: the same instructions ran
        let l: Vec<f32> = losses.iter().map(|x| *x as f32).collect();
        let e = sandbox.evaluate(&l).unwrap();
        let page_f32: Vec<f32> = page_w.iter().map(|x| *x as f32).collect();
        assert_eq!(
            (page_v as f32, page_f32),
            (e.value, e.weights),
            "page vs sandbox at {l:?}"
        );
    };
    // the typical values (the log's medians), then other points from the URL
    let start = shown(&browse(&chrome, &profile, &page, &["--dump-dom"]));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let at: Vec<f64> = floats(&json["report"]["at"])
        .iter()
        .map(|x| *x as f32 as f64)
        .collect();
    assert_eq!(floats(&start["losses"]), at);
    check(&start);
    for l in ["0.3,2.5,0.001", "5,0.01,0.2", "0.0001,40,3"] {
        let v = shown(&browse(
            &chrome,
            &profile,
            &format!("{page}?l={l}"),
            &["--dump-dom"],
        ));
        let want: Vec<f64> = l
            .split(',')
            .map(|x| x.parse::<f32>().unwrap() as f64)
            .collect();
        assert_eq!(floats(&v["losses"]), want);
        check(&v);
    }
    // moving slider 1 (an `input` event, as a drag sends) moves loss 1 and the values
    let moved = shown(&browse(
        &chrome,
        &profile,
        &format!("{page}?slide=1:800"),
        &["--dump-dom"],
    ));
    let (a, b) = (floats(&start["losses"]), floats(&moved["losses"]));
    assert!(
        b[1] > 10.0 * a[1] && a[0] == b[0] && a[2] == b[2],
        "{a:?} -> {b:?}"
    );
    assert_ne!(start["value"], moved["value"]);
    check(&moved);
    // a non-finite or empty loss shows the contract's error, not a number
    for (q, index) in [("l=1,nan,2", 1), ("box=2:", 2), ("l=inf,1,1", 0)] {
        let dom = browse(&chrome, &profile, &format!("{page}?{q}"), &["--dump-dom"]);
        let v = shown(&dom);
        let want = format!("input-error::non-finite({index})");
        assert!(v["error"].as_str().unwrap().starts_with(&want), "{q}: {v}");
        assert!(element(&dom, "p", "error").starts_with(&want), "{q}");
        assert_eq!(element(&dom, "span", "value"), "—", "{q}");
    }
    eprintln!(
        "largest difference over 5 points: page vs native head {worst:e} relative; page = wasmtime sandbox bit for bit"
    );
    // the screenshot (README): a PNG of the whole page
    let shot = std::env::var("MELTR_PAGE_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| d.join("page.png"));
    let shot = std::path::absolute(&shot).unwrap();
    browse(
        &chrome,
        &profile,
        &page,
        &[
            "--window-size=1200,1500",
            "--hide-scrollbars",
            &format!("--screenshot={}", s(&shot)),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    std::fs::remove_dir_all(&d).unwrap();
}
