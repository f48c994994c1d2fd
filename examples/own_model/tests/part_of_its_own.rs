//! A plugin's task that reads a plugin's part, end to end: the example's
//! binary (meltr's trainer for a model the `meltr` binary does not link)
//! trains our model from `contrast.toml`, where `projection_contrast`
//! (crate meltr-projection-contrast) reads the `projection` part that our
//! model serves; nothing under meltr's `src/` knows either.

use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-part-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(run: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meltr-example-own-model"))
        .arg("train")
        .arg("--config")
        .arg(run)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the example's binary runs")
}

#[test]
fn trains_a_task_with_a_part_of_its_own_from_a_run_file() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrast.toml");
    let text = std::fs::read_to_string(&run)
        .unwrap()
        .replace("epochs = 10", "epochs = 4")
        .replace("eval_limit = 1000", "eval_limit = 200");
    let out = out_dir("run");
    std::fs::create_dir_all(&out).unwrap();
    let short = out.join("contrast.toml");
    std::fs::write(&short, text).unwrap();
    let o = train(&short, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["tasks"],
        serde_json::json!(["classify", "projection_contrast"])
    );
    let loss = |epoch: usize| summary["epochs"][epoch]["mean_losses"][1].as_f64().unwrap();
    assert!(
        loss(3) < 0.9 * loss(0),
        "projection_contrast loss {} -> {}",
        loss(0),
        loss(3)
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_missing_required_setting_is_one_line_naming_file_task_and_field() {
    let out = out_dir("bad");
    std::fs::create_dir_all(&out).unwrap();
    let run = out.join("bad.toml");
    std::fs::write(
        &run,
        "preset = \"digits-tiny\"\npretrain_preset = \"none\"\nprimary = \"classify\"\n\
         tasks = [\"classify\", { type = \"projection_contrast\", noise = 0.1 }]\n\
         [meta_loss]\ntype = \"sum\"\n",
    )
    .unwrap();
    let o = train(&run, &out.join("run"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        format!(
            "error: {}: tasks: task `projection_contrast`: missing field `temperature`\n",
            run.display()
        )
    );
    let _ = std::fs::remove_dir_all(&out);
}
