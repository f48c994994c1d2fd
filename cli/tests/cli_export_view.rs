//! `meltr export` then `meltr view`, as a new user runs them; user mistakes
//! exit with code 2 and one line on stderr.
#![cfg(feature = "viewer")]

use meltr::head::{init_weights, HeadInfo, Preset};
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn meltr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn export_then_view_writes_a_report() {
    let d = tmp("ok");
    let mut w = init_weights(Preset::Allinone.dims(), 3, 4).unwrap();
    w.info = HeadInfo {
        task_names: vec!["retrieval".into(), "cmlm".into(), "align".into()],
        primary: Some(0),
        steps: 120,
        seed: Some(4),
    };
    let weights = d.join("head.safetensors");
    w.save(&weights).unwrap();
    let wasm = d.join("head.wasm");
    let o = meltr(&[
        "export",
        "--weights",
        weights.to_str().unwrap(),
        "--out",
        wasm.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 tasks"));
    let log = d.join("run.jsonl");
    std::fs::write(
        &log,
        "{\"step\":0,\"weights\":[1,1,1],\"losses\":[2,3,1]}\n{\"epoch\":0}\n{\"step\":3,\"weights\":[0.8,1.2,0.5],\"losses\":[1.5,2.5,1]}\n",
    )
    .unwrap();
    let report = d.join("report");
    let o = meltr(&[
        "view",
        wasm.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--grid",
        "10",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for f in [
        "fig3_value.svg",
        "fig3_weights.svg",
        "fig4_weights.svg",
        "fig7_surface.svg",
    ] {
        assert!(html.contains(f), "{f}");
        let svg = std::fs::read_to_string(report.join(f)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{f}");
    }
    assert!(html.contains("retrieval") && html.contains("120"));
    // figure 7 uses the primary task and the next one
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["report"]["surface"]["pair"], serde_json::json!([0, 1]));
    // typical values are the log's medians
    assert_eq!(json["report"]["at"], serde_json::json!([1.75, 2.75, 1.0]));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn user_mistakes_exit_2_with_one_line() {
    let d = tmp("bad");
    let text = d.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["view".into(), text.display().to_string()],
        vec!["view".into(), d.join("missing.wasm").display().to_string()],
        vec![
            "export".into(),
            "--weights".into(),
            text.display().to_string(),
            "--out".into(),
            d.join("x.wasm").display().to_string(),
        ],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = meltr(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!d.join("x.wasm").exists(), "no half-written output");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_refused_artifact_writes_no_page() {
    let d = tmp("hostile");
    let component = |text: &str| wat::parse_str(text).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not wasm", b"not an artifact".to_vec()),
        ("a core module", component("(module)")),
        (
            "imports",
            component(
                r#"(component (import "read-file" (func (param "path" string) (result string))))"#,
            ),
        ),
        ("no world", component("(component)")),
    ];
    for (what, bytes) in cases {
        let wasm = d.join("hostile.wasm");
        std::fs::write(&wasm, bytes).unwrap();
        let report = d.join(format!("report-{}", what.replace(' ', "-")));
        let o = meltr(&[
            "view",
            wasm.to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            !report.exists(),
            "{what}: a refused artifact wrote {}",
            report.display()
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}
