//! End-to-end tests of `meltr head ...` as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn meltr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .unwrap()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-cli-head-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn init(name: &str, preset: &str, tasks: &str) -> String {
    let p = dir().join(name);
    let p = p.to_str().unwrap().to_string();
    let o = meltr(&[
        "head", "init", "--preset", preset, "--tasks", tasks, "--seed", "1", "--out", &p,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p
}

#[test]
fn init_then_inspect_json_agrees_with_the_library() {
    let p = init("a.safetensors", "allinone", "3");
    let o = meltr(&[
        "head",
        "inspect",
        "--weights",
        &p,
        "--losses",
        "1.2,0.3,2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    use meltr::meta_loss::MetaLoss;
    let head = meltr::head::Meltr::init(meltr::head::Preset::Allinone, 3, 1).unwrap();
    let e = head.eval(&[1.2, 0.3, 2.0]).unwrap();
    assert_eq!(v["value"].as_f64().unwrap() as f32, e.value);
    let w: Vec<f32> = v["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(w, e.weights);
}

#[test]
fn inspect_table_lists_every_task() {
    let p = dir().join("named.safetensors");
    let p = p.to_str().unwrap();
    let o = meltr(&[
        "head",
        "init",
        "--preset",
        "univl",
        "--tasks",
        "2",
        "--names",
        "align,cmlm",
        "--out",
        p,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = meltr(&["head", "inspect", "--weights", p, "--losses", "0.5,4"]);
    let text = stdout(&o);
    assert!(text.starts_with("value"), "{text}");
    assert!(text.contains("align") && text.contains("cmlm"), "{text}");
}

#[test]
fn mixed_grad_is_keyed_by_reference_names_in_reference_layout() {
    let p = init("m.safetensors", "allinone", "2");
    let o = meltr(&[
        "head",
        "mixed-grad",
        "--weights",
        &p,
        "--losses",
        "1,2",
        "--direction",
        "-1,0.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 18);
    assert_eq!(
        obj["encoder.self_attn.in_proj_weight"]
            .as_array()
            .unwrap()
            .len(),
        3 * 128 * 128
    );
    assert_eq!(
        obj["task_embedding.weight"].as_array().unwrap().len(),
        2 * 128
    );
    // D_l f[c] is linear in c: the head term for -c is the negative.
    let o2 = meltr(&[
        "head",
        "mixed-grad",
        "--weights",
        &p,
        "--losses",
        "1,2",
        "--direction",
        "1,-0.5",
    ]);
    let v2: serde_json::Value = serde_json::from_str(&stdout(&o2)).unwrap();
    let a = obj["fc1.weight"].as_array().unwrap();
    let b = v2["fc1.weight"].as_array().unwrap();
    assert!(a.iter().any(|x| x.as_f64().unwrap() != 0.0));
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.as_f64().unwrap(), -y.as_f64().unwrap());
    }
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let p = init("b.safetensors", "allinone", "3");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["head", "inspect", "--weights", &p, "--losses", "1,2"],
            "expected 3 values, found 2",
        ),
        (
            vec!["head", "inspect", "--weights", &p, "--losses", "1,x,2"],
            "`x` is not a number",
        ),
        (
            vec!["head", "inspect", "--weights", &p, "--losses", "1,inf,2"],
            "value #1 is inf",
        ),
        (
            vec!["head", "inspect", "--weights", &p, "--losses", "1,NaN,2"],
            "value #1 is NaN",
        ),
        (
            vec![
                "head",
                "inspect",
                "--weights",
                "/no/such/file",
                "--losses",
                "1",
            ],
            "/no/such/file",
        ),
        (
            vec![
                "head",
                "mixed-grad",
                "--weights",
                &p,
                "--losses",
                "1,2,3",
                "--direction",
                "1",
            ],
            "direction: expected 3 values",
        ),
        (
            vec![
                "head", "init", "--preset", "big", "--tasks", "2", "--out", "/tmp/x",
            ],
            "preset = big",
        ),
        (
            vec!["head", "init", "--tasks", "17", "--out", "/tmp/x"],
            "tasks = 17",
        ),
    ];
    for (args, needle) in cases {
        let o = meltr(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_corrupt_weights_file_is_refused() {
    let p = dir().join("corrupt.safetensors");
    std::fs::write(&p, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let o = meltr(&[
        "head",
        "inspect",
        "--weights",
        p.to_str().unwrap(),
        "--losses",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a valid weights file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn init_refuses_a_missing_folder_and_leaves_nothing_behind() {
    let o = meltr(&[
        "head",
        "init",
        "--tasks",
        "2",
        "--out",
        "/no/such/dir/h.safetensors",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/dir/h.safetensors"));
}

/// The head term's cost against value+weights stays within twice its
/// reference ratio (`meltr bench head --check-ratio`): a ratio measured in
/// one process, not a time.
#[test]
fn head_term_cost_ratio_holds() {
    let o = meltr(&["bench", "head", "--check-ratio"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    for head in ["allinone-k2", "violet-k3", "univl-k8", "paper-k8"] {
        assert!(table.contains(head), "{head} missing:\n{table}");
    }
}

/// `--threads`: a count sizes the pool that `bench step` reports; zero or
/// a word is a one-line error with exit code 2.
#[test]
fn threads_flag_sets_the_pool_and_refuses_bad_counts() {
    let o = meltr(&[
        "bench",
        "step",
        "--threads",
        "1",
        "--reps",
        "1",
        "--only",
        "plain",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["threads"], 1);
    for bad in ["0", "many"] {
        let o = meltr(&["--threads", bad, "tasks"]);
        assert_eq!(o.status.code(), Some(2), "--threads {bad}");
        let err = stderr(&o);
        assert!(err.contains("--threads") && err.contains(bad), "{err}");
    }
}
