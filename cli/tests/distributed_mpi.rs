//! `mpirun -np 2 meltr train` (the `mpi` feature, Open MPI installed): two
//! ranks reproduce one process on the full batch, every built-in task
//! logs one process's first step on 2 and 4 ranks, and a rank that dies
//! makes the run stop with an error within a bounded time. Built with
//! `--features nccl` (a GPU, NCCL), the same tests run the NCCL transport.
#![cfg(feature = "mpi")]

#[path = "../../tests/common/ranks.rs"]
mod ranks;

use meltr::train::Checkpoint;
use ranks::{first_record, max_rel_diff, numbers};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `mpirun` with `ranks` copies of `meltr ARGS` (root allowed: CI runs as root).
fn mpirun(ranks: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(ranks.to_string())
        .arg(env!("CARGO_BIN_EXE_meltr"))
        .args(args);
    c
}

/// A digits run on the classification loss (a per-example mean with no
/// randomness, so shards add up to the full batch up to float rounding).
fn run_file(d: &Path, name: &str, epochs: usize, meta_loss: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(
        &p,
        format!(
            "preset = \"digits-tiny\"\nepochs = {epochs}\ntasks = [\"classify\"]\n\
             primary = \"classify\"\n[meta_loss]\n{meta_loss}\n"
        ),
    )
    .unwrap();
    p
}

/// Trains `config` in one process and on 2 MPI ranks; returns the largest
/// relative difference of the final backbone, head and both optimisers.
fn one_vs_two(d: &Path, config: &Path) -> f64 {
    let (one, two) = (d.join("one"), d.join("two"));
    let args = |out: &Path| -> Vec<String> {
        ["train", "--quiet", "--config", s(config), "--out", s(out)]
            .map(String::from)
            .to_vec()
    };
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args(&one))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let single_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let a = args(&two);
    let o = mpirun(2, &a.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mpi_s = started.elapsed().as_secs_f64();
    // Rank 0 alone printed the result.
    let printed = String::from_utf8_lossy(&o.stdout)
        .matches("test accuracy")
        .count();
    assert_eq!(printed, 1);
    // The log names the transport: a build with `nccl` reduces on the GPUs.
    let expect = if cfg!(feature = "nccl") {
        "nccl"
    } else {
        "mpi"
    };
    for (out, ranks, transport) in [(&one, 1, "single"), (&two, 2, expect)] {
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        let run: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert_eq!(run["kind"], "run");
        assert_eq!(run["ranks"], ranks, "{run}");
        assert_eq!(run["transport"], transport, "{run}");
    }
    let (a, b) = (
        Checkpoint::load(&one.join("checkpoint.safetensors")).unwrap(),
        Checkpoint::load(&two.join("checkpoint.safetensors")).unwrap(),
    );
    assert_eq!(a.position.step, b.position.step);
    let worst = a
        .backbone
        .iter()
        .chain(&a.head)
        .zip(b.backbone.iter().chain(&b.head))
        .filter(|(x, _)| !x.is_empty())
        .map(|(x, y)| max_rel_diff(x, y))
        .fold(0.0, f64::max);
    println!(
        "{}: {} steps, max relative difference {worst:.1e}; 1 process {single_s:.1} s, \
         2 ranks {mpi_s:.1} s (wall, with start-up)",
        config.display(),
        a.position.step
    );
    worst
}

#[test]
fn every_built_in_task_logs_one_process_s_first_step_on_2_and_4_ranks() {
    // All the presets' tasks, in-batch negatives and masks included, on a
    // fresh backbone for one epoch.
    let d = dir("tasks");
    for preset in ["tiny", "quick", "digits"] {
        let config = d.join(format!("{preset}.toml"));
        std::fs::write(
            &config,
            format!(
                "preset = \"{preset}\"\npretrain_preset = \"none\"\nepochs = 1\neval_limit = 16\n\
                 [meta_loss]\ntype = \"sum\"\n"
            ),
        )
        .unwrap();
        let mut first = None;
        for ranks in [1, 2, 4] {
            let out = d.join(format!("{preset}-{ranks}"));
            let a = ["train", "--quiet", "--config", s(&config), "--out", s(&out)];
            let o = if ranks == 1 {
                Command::new(env!("CARGO_BIN_EXE_meltr")).args(a).output()
            } else {
                mpirun(ranks, &a).output()
            }
            .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let losses = numbers(&first_record(&out, "step")["losses"]);
            println!("{preset}, {ranks} rank(s): step 1 losses {losses:?}");
            let one = first.get_or_insert_with(|| losses.clone());
            for (a, b) in one.iter().zip(&losses) {
                assert!(
                    (a - b).abs() <= 1e-6 * a.abs(),
                    "{preset}, {ranks} ranks: {losses:?} vs one process {one:?}"
                );
            }
        }
    }
}

#[test]
fn two_mpi_ranks_reproduce_one_process() {
    let d = dir("equivalence");
    // With the plain sum, 200 steps: f32 rounding of the sums in another
    // order (measured 4e-7 on the weights, 3.5e-6 on Adam's first moment).
    let sum = run_file(&d, "sum.toml", 20, "type = \"sum\"");
    assert!(one_vs_two(&d.join("sum"), &sum) < 1e-4);
    // With a MELTR head, 20 steps and 6 meta steps: the central difference
    // of `c = J v` magnifies that rounding about a thousandfold (c agrees
    // to 1e-4), and the head then steers the backbone (measured 3e-4 on
    // the weights, 2e-3 on Adam's first moment).
    let meltr = run_file(
        &d,
        "meltr.toml",
        2,
        "type = \"meltr\"\npreset = \"allinone\"\ntasks = 1",
    );
    assert!(one_vs_two(&d.join("meltr"), &meltr) < 2e-2);
}

/// The pids of the ranks of the `mpirun` whose command line names `out`.
fn rank_pids(out: &Path) -> Vec<(u32, usize)> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(s(out)) || cmdline.starts_with("mpirun") {
            continue;
        }
        let rank = String::from_utf8_lossy(&environ)
            .split('\0')
            .find_map(|v| v.strip_prefix("OMPI_COMM_WORLD_RANK=").map(str::to_string));
        if let Some(r) = rank.and_then(|r| r.parse().ok()) {
            found.push((pid, r));
        }
    }
    found
}

#[test]
fn a_rank_that_dies_stops_the_others_with_an_error() {
    let d = dir("death");
    let config = run_file(&d, "run.toml", 200, "type = \"sum\"");
    let out = d.join("out");
    let mut child = mpirun(
        2,
        &["train", "--quiet", "--config", s(&config), "--out", s(&out)],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until the run is training, then kill rank 1.
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap_or_default();
        let ranks = rank_pids(&out);
        if log.matches("\"kind\":\"step\"").count() >= 5 {
            if let Some(&(pid, _)) = ranks.iter().find(|(_, r)| *r == 1) {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the other rank still runs a minute after rank 1 died"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    println!(
        "stopped {:.1} s after the kill: {}",
        killed.elapsed().as_secs_f64(),
        err.trim()
    );
    assert!(!status.success());
    assert!(err.contains("rank 1") || err.contains("signal 9"), "{err}");
    // No rank is left running.
    std::thread::sleep(Duration::from_millis(500));
    assert!(rank_pids(&out).is_empty(), "a rank outlived the run");
}
