//! `meltr tasks` and `meltr pretrain` as a user runs them.

use std::process::Command;

fn meltr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn tasks_lists_the_five_plugins() {
    let out = meltr(&["tasks"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for t in ["align", "cmfm", "cmlm", "mixup", "rotation"] {
        assert!(
            text.lines().any(|l| l.starts_with(t)),
            "{t} missing from:\n{text}"
        );
    }
    // Each says whether its loss couples the batch's examples.
    let json = meltr(&["tasks", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let coupling = |name: &str| {
        let t = v.as_array().unwrap().iter().find(|t| t["name"] == name);
        t.unwrap()["coupling"].as_str().unwrap().to_string()
    };
    assert_eq!(coupling("align"), "whole batch");
    assert_eq!(coupling("rotation"), "per example");
}

#[test]
fn tiny_pretraining_writes_a_loadable_checkpoint_and_bad_input_exits_2() {
    let dir = std::env::temp_dir().join(format!("meltr-cli-pretrain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("backbone.safetensors");
    let out = meltr(&[
        "pretrain",
        "--preset",
        "tiny",
        "--steps",
        "5",
        "--quiet",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(meltr::backbone::load_backbone(&out_path).is_ok());

    let bad = meltr(&[
        "pretrain",
        "--tasks",
        "cmlm,nope",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown task `nope`") && err.contains("rotation"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
