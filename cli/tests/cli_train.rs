//! End-to-end tests of `meltr train` / `meltr eval` on the tiny preset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meltr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-cli-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `meltr train --config run --out out --quiet`, refused with usage's exit
/// status and a one-line error, which it returns.
fn train_refused(run: &Path, out: &Path) -> String {
    let o = meltr(&["train", "--config", s(run), "--out", s(out), "--quiet"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{}: {err}", run.display());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

/// A tiny pretrained backbone shared by the tests of this file.
fn backbone() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let d = dir("backbone");
        let p = d.join("backbone.safetensors");
        ok(&meltr(&[
            "pretrain",
            "--preset",
            "tiny",
            "--quiet",
            "--out",
            s(&p),
        ]));
        p
    })
    .clone()
}

fn run_file(d: &Path, epochs: usize, extra: &str) -> PathBuf {
    let p = d.join("run.toml");
    let text = format!(
        "preset = \"tiny\"\nepochs = {epochs}\nbackbone = \"{}\"\n{extra}",
        s(&backbone())
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn tiny_run_writes_log_checkpoint_head_and_summary() {
    let d = dir("run");
    let cfg = run_file(&d, 2, "");
    let out = d.join("out");
    let o = meltr(&["train", "--config", s(&cfg), "--out", s(&out), "--quiet"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("test R@1"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs"].as_array().unwrap().len(), 2);
    let r1 = summary["final_test"]["r1"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&r1));
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps = lines.iter().filter(|l| l["kind"] == "step").count();
    let metas = lines.iter().filter(|l| l["kind"] == "meta").count();
    assert_eq!(steps, 12, "48 examples / batch 8 × 2 epochs");
    assert_eq!(metas, 4, "a meta step every 3 steps");
    let step = lines.iter().find(|l| l["kind"] == "step").unwrap();
    assert_eq!(step["weights"].as_array().unwrap().len(), 3);
    // The trained head loads and is evaluated by `meltr head inspect`.
    let o = meltr(&[
        "head",
        "inspect",
        "--weights",
        s(&out.join("head.safetensors")),
        "--losses",
        "1,2,0.1",
    ]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("align") && text.contains("rotation"),
        "{text}"
    );
    // And the backbone by `meltr eval`.
    let o = meltr(&[
        "eval",
        "--checkpoint",
        s(&out.join("backbone.safetensors")),
        "--json",
    ]);
    ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["median_rank"].as_f64().unwrap() >= 1.0);
}

#[test]
fn tasks_are_tables_with_settings_in_a_training_run_file() {
    let d = dir("tables");
    let first_losses = |tasks: &str, name: &str| {
        let cfg = run_file(&d, 1, tasks);
        let out = d.join(name);
        ok(&meltr(&[
            "train",
            "--config",
            s(&cfg),
            "--out",
            s(&out),
            "--quiet",
        ]));
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0]["tasks"],
            serde_json::json!(["align", "cmlm", "rotation"])
        );
        let step = lines.iter().find(|l| l["kind"] == "step").unwrap();
        step["losses"].clone()
    };
    let names = first_losses("tasks = [\"align\", \"cmlm\", \"rotation\"]\n", "names");
    let defaults = first_losses(
        "tasks = [\"align\", { type = \"cmlm\", mask_prob = 0.15 }, \"rotation\"]\n",
        "defaults",
    );
    let more = first_losses(
        "tasks = [\"align\", { type = \"cmlm\", mask_prob = 0.5 }, \"rotation\"]\n",
        "more",
    );
    // The default written out is the bare name; another setting masks
    // other tokens, and only cmlm's loss moves.
    assert_eq!(names, defaults);
    assert_eq!(names[0], more[0]);
    assert_ne!(names[1], more[1]);
}

/// Head updates leave nothing behind in dfdx's buffer cache: 200 warm-start
/// steps of a UniVL-size head (2 MB per parameter vector) once piled up
/// 2 GB there (docs/design.md §8).
#[test]
fn warm_start_and_meta_steps_keep_memory_bounded() {
    let d = dir("memory");
    let extra = "[meta_loss]\ntype = \"meltr\"\npreset = \"univl\"\ntasks = 3\n\n[meta]\nwarm_start = 200\n";
    let cfg = run_file(&d, 1, extra);
    let out = d.join("out");
    ok(&meltr(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&out),
        "--quiet",
    ]));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let peak = summary["peak_rss_mib"].as_f64().unwrap();
    println!("peak RSS {peak:.0} MiB");
    assert!(peak < 600.0, "peak RSS {peak} MiB");
}

#[test]
fn resume_ends_with_the_same_weights_as_an_uninterrupted_run() {
    let d = dir("resume");
    let full = d.join("full");
    let cfg2 = run_file(&d, 2, "");
    ok(&meltr(&[
        "train",
        "--config",
        s(&cfg2),
        "--out",
        s(&full),
        "--quiet",
    ]));
    let split = d.join("split");
    let cfg1 = run_file(&d, 1, "");
    ok(&meltr(&[
        "train",
        "--config",
        s(&cfg1),
        "--out",
        s(&split),
        "--quiet",
    ]));
    let cfg2 = run_file(&d, 2, "");
    ok(&meltr(&[
        "train",
        "--config",
        s(&cfg2),
        "--out",
        s(&split),
        "--resume",
        "--quiet",
    ]));
    // Compare the numbers (file bytes also hold metadata in hash order).
    let backbone = |d: &Path| {
        meltr::backbone::load_backbone(&d.join("backbone.safetensors"))
            .unwrap()
            .params()
            .to_vec()
    };
    let head = |d: &Path| {
        meltr::head::HeadWeights::load(&d.join("head.safetensors"))
            .unwrap()
            .flat()
    };
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    assert!(
        bits(backbone(&full)) == bits(backbone(&split)),
        "backbone differs after resume"
    );
    assert!(
        bits(head(&full)) == bits(head(&split)),
        "head differs after resume"
    );
    // And the run really trained: the head moved from its initialisation.
    let fresh = meltr::head::Meltr::init(meltr::head::Preset::Allinone, 3, 0).unwrap();
    assert!(head(&full) != fresh.weights().flat());
}

#[test]
fn resume_with_another_run_file_says_what_differs() {
    let d = dir("resume-diff");
    let out = d.join("out");
    let cfg = run_file(&d, 1, "");
    ok(&meltr(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&out),
        "--quiet",
    ]));
    let cfg = run_file(&d, 2, "seed = 9\n");
    let o = meltr(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&out),
        "--resume",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("seed: 0 vs 9"), "{err}");
}

#[test]
fn bad_run_files_name_the_file_field_and_line() {
    let d = dir("bad");
    let cases = [
        ("preset = \"tiny\"\nepohcs = 3\n", "epohcs"),
        ("preset = \"tiny\"\n\nbatch_size = \"big\"\n", "line 3"),
        ("preset = \"tiny\"\nprimary = \"mixup\"\n", "primary"),
        ("preset = \"huge\"\n", "huge"),
        (
            "preset = \"tiny\"\ntasks = [\"align\", \"cmlm\", \"nope\"]\n",
            "unknown task `nope`",
        ),
        (
            "preset = \"tiny\"\n[strategy]\ntype = \"neumann\"\nalpha = -1.0\n",
            "alpha",
        ),
        (
            "preset = \"tiny\"\ntasks = [\"align\", { type = \"cmlm\", mask_prob = 1.5 }, \"rotation\"]\n",
            "bad6.toml: tasks: task `cmlm`: mask_prob = 1.5: must be in [0, 1]",
        ),
        (
            "preset = \"tiny\"\n[[tasks]]\ntype = \"align\"\n[[tasks]]\ntype = \"cmlm\"\nmask_prb = 0.2\n\
             [[tasks]]\ntype = \"rotation\"\n",
            "bad7.toml: tasks: task `cmlm`: unknown field `mask_prb`",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let p = d.join(format!("bad{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let err = train_refused(&p, &d.join("o"));
        assert!(err.contains(needle), "{text}: {err}");
    }
    let o = meltr(&["train", "--config", "/no/such/run.toml", "--quiet"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/run.toml"));
}

#[test]
fn bench_step_reports_phases_that_add_up_and_the_meta_step_passes() {
    let o = meltr(&["bench", "step", "--preset", "tiny", "--reps", "2", "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ms = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {v}"));
    for k in [
        "forward_taped_ms",
        "forward_free_ms",
        "combine_ms",
        "backward_ms",
        "update_ms",
        "primary_grad_ms",
        "meta_step_ms",
    ] {
        assert!(ms(k) > 0.0, "{k} = {}", ms(k));
    }
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["tasks"], serde_json::json!(["align", "cmlm", "rotation"]));
    // The tiny preset's AID-FP-Lite meta step: the primary's and the
    // regulariser's backward, and the two central-difference forwards.
    assert_eq!(
        v["meta_passes"],
        serde_json::json!({"forwards": 2, "backwards": 2})
    );
    // A meta step does at least the work of the forwards it makes.
    assert!(ms("meta_step_ms") > 2.0 * ms("forward_free_ms") * 0.5);
    let table = meltr(&["bench", "step", "--preset", "tiny", "--reps", "1"]);
    ok(&table);
    assert!(String::from_utf8_lossy(&table.stdout)
        .contains("epoch time vs plain sum at meta_every = 3"));
    let bad = meltr(&["bench", "step", "--preset", "tiny", "--reps", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("reps"));
}

#[test]
fn bench_step_times_a_backbone_of_other_settings() {
    let o = meltr(&[
        "bench",
        "step",
        "--preset",
        "digits-tiny",
        "--only",
        "plain",
        "--reps",
        "1",
        "--json",
        "--backbone-settings",
        r#"{"width": 24}"#,
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["sum_step_ms"].as_f64().unwrap() > 0.0, "{v}");
    for (settings, needle) in [
        ("{width: 24", "--backbone-settings"),
        (r#"{"width": 0}"#, "width"),
    ] {
        let bad = meltr(&[
            "bench",
            "step",
            "--preset",
            "digits-tiny",
            "--reps",
            "1",
            "--backbone-settings",
            settings,
        ]);
        assert_eq!(bad.status.code(), Some(2), "{settings}");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(needle), "{settings}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn bench_head_times_every_preset() {
    let o = meltr(&["bench", "head", "--reps", "1", "--tasks", "3"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    for name in ["allinone-k3", "violet-k3", "univl-k3", "paper-k3"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        let ms: Vec<f64> = row
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(ms.len(), 4, "{row}");
        assert!(ms.iter().all(|&t| t > 0.0), "{row}");
    }
}

#[test]
fn compare_writes_a_table_whose_rows_come_from_the_runs() {
    let d = dir("compare");
    let out = d.join("cmp");
    let o = meltr(&[
        "compare",
        "--preset",
        "tiny",
        "--methods",
        "sum,meltr,uw",
        "--seeds",
        "0,1",
        "--backbone",
        s(&backbone()),
        "--out",
        s(&out),
    ]);
    ok(&o);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 3);
    for (row, method) in rows.iter().zip(["sum", "meltr"]) {
        assert_eq!(row["method"], method);
        // Each seed's R@1 is the final test R@1 its run wrote.
        for (i, seed) in [0, 1].iter().enumerate() {
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join(format!("{method}-seed{seed}/summary.json")))
                    .unwrap(),
            )
            .unwrap();
            let r1 = row["test"][i].as_f64().unwrap();
            assert_eq!(r1, summary["final_test"]["r1"].as_f64().unwrap());
        }
        let r1: Vec<f64> = row["test"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let mean = (r1[0] + r1[1]) / 2.0;
        assert!((row["test_ci"]["mean"].as_f64().unwrap() - mean).abs() < 1e-4);
        // Two seeds: s = |d| / √2, half = t_{0.975}(1) · s / √2.
        let half = 12.706204736174694 * (r1[0] - r1[1]).abs() / 2.0;
        assert!((row["test_ci"]["half"].as_f64().unwrap() - half).abs() < 1e-3);
        assert_eq!(row["metric"], "R@1");
    }
    assert_eq!(rows[0]["time_vs_sum"], 1.0);
    // The MELTR run left a head the viewer can load.
    assert!(out.join("meltr-seed0/head.safetensors").exists());
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(
        md.contains("| plain multi-task sum |") && md.contains("2 seeds"),
        "{md}"
    );
    // Paired differences against the sum and the best baseline (uw or sum,
    // by validation).
    assert!(
        md.contains("Paired differences") && md.contains("| MELTR, AID-FP-Lite | "),
        "{md}"
    );
    // A second invocation with one more method reuses every finished run.
    let again = meltr(&[
        "compare",
        "--preset",
        "tiny",
        "--methods",
        "sum,meltr,uw,dwa",
        "--seeds",
        "0,1",
        "--backbone",
        s(&backbone()),
        "--out",
        s(&out),
    ]);
    ok(&again);
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(err.matches("reusing").count(), 6, "{err}");
    assert!(out.join("dwa-seed1/summary.json").exists());
    let bad = meltr(&[
        "compare",
        "--preset",
        "tiny",
        "--methods",
        "sum,nonsense",
        "--out",
        s(&out),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nonsense"));
}

/// The resolved run configuration a run folder's checkpoint stores (its
/// safetensors header's `config` metadata).
fn checkpoint_config(run: &Path) -> toml::Table {
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"]["config"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn compare_trains_each_method_with_its_own_recipe() {
    let d = dir("compare-recipe");
    let out = d.join("cmp");
    let shared = d.join("shared.toml");
    std::fs::write(&shared, "[optimizer]\nlr = 2e-3\neps = 1e-7\n").unwrap();
    let slow = d.join("slow.toml");
    std::fs::write(&slow, "[optimizer]\nlr = 3e-4\n").unwrap();
    let backbone = backbone();
    let compare = |extra: &[&str]| {
        let mut args = vec![
            "compare",
            "--preset",
            "tiny",
            "--seeds",
            "0",
            "--backbone",
            s(&backbone),
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        meltr(&args)
    };
    let recipe = format!("uw={}", s(&slow));
    let o = compare(&[
        "--methods",
        "sum,uw",
        "--tasks",
        "align,mixup",
        "--extra",
        s(&shared),
        "--recipe",
        &recipe,
    ]);
    ok(&o);
    // What each run trained with, read back from its checkpoint: the shared
    // recipe for the sum; for uw its own learning rate over the shared eps.
    let sum = checkpoint_config(&out.join("sum-seed0"));
    let uw = checkpoint_config(&out.join("uw-seed0"));
    let f32_of = |c: &toml::Table, key: &str| c["optimizer"][key].as_float().map(|x| x as f32);
    assert_eq!(f32_of(&sum, "lr"), Some(2e-3));
    assert_eq!(f32_of(&uw, "lr"), Some(3e-4));
    for c in [&sum, &uw] {
        assert_eq!(f32_of(c, "eps"), Some(1e-7));
        assert_eq!(c["tasks"].as_array().unwrap().len(), 2, "{c}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("uw-seed0/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["tasks"], serde_json::json!(["align", "mixup"]));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("| uncertainty weighting (Kendall et al. 2018) [lr 3e-4] |")
            && md.contains("| plain multi-task sum |"),
        "{md}"
    );
    // Bad input: one line naming the method, the file or the table.
    for (args, names) in [
        (vec!["--methods", "sum", "--recipe", "summ=x.toml"], "summ"),
        (
            vec!["--methods", "sum", "--recipe", "sum=/no/such.toml"],
            "/no/such.toml",
        ),
        (
            vec!["--methods", "sum", "--tasks", "align,nosuch"],
            "nosuch",
        ),
        (vec!["--methods", "sum", "--tasks", "mixup,cmlm"], "align"),
    ] {
        let o = compare(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(names) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    // A [schedule] goes to the methods with meta steps, laid over theirs
    // key by key: the shared one's meta_every, meltr's own holdout.
    let schedule = d.join("holdout.toml");
    std::fs::write(&schedule, "[schedule]\nholdout = 8\n").unwrap();
    let every = d.join("every.toml");
    std::fs::write(&every, "[schedule]\nmeta_every = 2\n").unwrap();
    let recipe = format!("meltr={}", s(&schedule));
    let o = compare(&[
        "--methods",
        "sum,meltr",
        "--extra",
        s(&every),
        "--recipe",
        &recipe,
    ]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("every.toml: [schedule] is not used by sum (no meta steps)"),
        "{err}"
    );
    let schedule_of = |run: &str| {
        let c = checkpoint_config(&out.join(run));
        let int = |key: &str| c["schedule"][key].as_integer().unwrap();
        (int("holdout"), int("meta_every"), int("ring"))
    };
    // The tiny preset's ring is 4, its meta_every 3, its holdout 0.
    assert_eq!(schedule_of("meltr-seed0"), (8, 2, 4));
    assert_eq!(schedule_of("sum-seed0"), (0, 3, 4));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| MELTR, AID-FP-Lite [holdout 8] |"), "{md}");
    // For a method without meta steps its own [schedule] is an error
    // naming the file and the method.
    let recipe = format!("sum={}", s(&schedule));
    let o = compare(&["--methods", "sum", "--recipe", &recipe]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holdout.toml")
            && err.contains("[schedule]")
            && err.contains("sum (plain multi-task sum)")
            && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn the_same_commands_run_on_the_digits_and_report_accuracy() {
    let d = dir("digits");
    let backbone = d.join("digits.safetensors");
    ok(&meltr(&[
        "pretrain",
        "--preset",
        "digits-tiny",
        "--out",
        s(&backbone),
        "--quiet",
    ]));
    let out = d.join("cmp");
    let o = meltr(&[
        "compare",
        "--preset",
        "digits-tiny",
        "--methods",
        "sum,meltr",
        "--seeds",
        "0",
        "--backbone",
        s(&backbone),
        "--out",
        s(&out),
    ]);
    ok(&o);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    for row in &rows {
        assert_eq!(row["metric"], "accuracy");
        let acc = row["test"][0].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{row}");
    }
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("test accuracy"), "{md}");
    // `meltr eval` finds the data set made for the backbone's kind.
    let o = meltr(&[
        "eval",
        "--checkpoint",
        s(&out.join("sum-seed0/backbone.safetensors")),
    ]);
    ok(&o);
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.starts_with("accuracy "), "{line}");
    // A digits backbone where a video-text one is expected is refused by name.
    let run = d.join("wrong.toml");
    std::fs::write(
        &run,
        format!("preset = \"tiny\"\nbackbone = {:?}\n", s(&backbone)),
    )
    .unwrap();
    let err = train_refused(&run, &d.join("wrong"));
    assert!(
        err.contains("task `align` needs the backbone's `text_embedding`"),
        "{err}"
    );
}

#[test]
fn a_run_files_data_settings_reach_the_digits_split() {
    let d = dir("data-settings");
    let steps_of = |extra: &str, name: &str| {
        let run = d.join(format!("{name}.toml"));
        std::fs::write(
            &run,
            format!("preset = \"digits-tiny\"\nepochs = 1\nbatch_size = 10\n{extra}"),
        )
        .unwrap();
        let out = d.join(name);
        ok(&meltr(&[
            "train",
            "--config",
            s(&run),
            "--out",
            s(&out),
            "--quiet",
        ]));
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|l| l["kind"] == "step")
            .count()
    };
    // 10 per class by default: 100 examples, 10 steps of 10; 25 per class:
    // 250 examples, 25 steps.
    assert_eq!(steps_of("", "default"), 10);
    let large = steps_of("[data_settings]\ntrain_per_class = 25\n", "large");
    assert_eq!(large, 25);

    // An impossible size, an unknown key, and settings for a data set that
    // takes none are one-line errors naming the file, the field and the value.
    let cases = [
        (
            "digits-tiny",
            "train_per_class = 70",
            "data_settings.train_per_class + val_per_class = 70 + 15",
        ),
        ("digits-tiny", "train_per_clas = 25", "train_per_clas"),
        (
            "tiny",
            "train_per_class = 25",
            "the data set `video_text` takes no settings",
        ),
    ];
    for (preset, setting, field) in cases {
        let run = d.join("bad.toml");
        std::fs::write(
            &run,
            format!("preset = \"{preset}\"\n[data_settings]\n{setting}\n"),
        )
        .unwrap();
        let err = train_refused(&run, &d.join("bad"));
        assert!(
            err.contains("bad.toml") && err.contains(field),
            "{setting}: {err}"
        );
    }
}

#[test]
#[cfg(not(feature = "mpi"))]
fn started_by_mpirun_without_the_mpi_feature_is_an_error_that_says_so() {
    let d = dir("no-mpi");
    let out = d.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args([
            "train",
            "--quiet",
            "--preset",
            "digits-tiny",
            "--out",
            s(&out),
        ])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("without the `mpi` feature"), "{err}");
    assert!(!out.join("log.jsonl").exists(), "nothing was written");
}
