//! Crash safety of `meltr train`: SIGKILL at many moments (one of them in
//! the middle of writing a checkpoint), then `--resume`, ends bit-identical
//! to an uninterrupted run, and at every kill point each file in the run
//! folder loads.
#![cfg(unix)]

use crate::common::{finish, train};
use meltr::train::Checkpoint;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KILLS: usize = 12;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every file in `out` loads with its reader; the only others allowed are
/// the temporaries of an interrupted atomic write. Returns the epochs the
/// checkpoint holds, if there is one.
fn every_file_loads(out: &Path) -> Option<usize> {
    let mut epochs = None;
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        match name.as_str() {
            "checkpoint.safetensors" => {
                let ck = Checkpoint::load(&path).unwrap_or_else(|e| panic!("{e}"));
                epochs = Some(ck.position.epochs_done);
            }
            "backbone.safetensors" => {
                meltr::backbone::load_backbone(&path).unwrap_or_else(|e| panic!("{e}"));
            }
            "head.safetensors" => {
                meltr::head::HeadWeights::load(&path).unwrap_or_else(|e| panic!("{e}"));
            }
            "summary.json" => {
                let text = std::fs::read_to_string(&path).unwrap();
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            "log.jsonl" => {
                let text = std::fs::read_to_string(&path).unwrap();
                // Every whole line parses. SIGKILL can cut the last write
                // at a page boundary: what follows the last newline may be
                // part of a line (readers skip it; the resume cuts it off).
                let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
                for line in whole.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .unwrap_or_else(|e| panic!("log line {line:?}: {e}"));
                }
                #[cfg(feature = "viewer")]
                if text.contains("\"weights\"") {
                    meltr::viewer::TrainingLog::load(&path, 3).unwrap_or_else(|e| panic!("{e}"));
                }
            }
            _ => assert!(
                meltr::atomic::is_temporary(&path),
                "unexpected file {name} in the run folder"
            ),
        }
    }
    epochs
}

/// The final state, bit for bit: backbone, head, both optimisers, position
/// (but the log's length, which varies with the digits of its timings).
fn final_state(out: &Path) -> (Vec<Vec<u32>>, String) {
    let mut ck = Checkpoint::load(&out.join("checkpoint.safetensors")).unwrap();
    ck.position.log_bytes = None;
    let bits = ck
        .backbone
        .iter()
        .chain(&ck.head)
        .map(|t| t.iter().map(|v| v.to_bits()).collect())
        .collect();
    (bits, serde_json::to_string(&ck.position).unwrap())
}

/// The log without its wall-clock times.
fn log_without_times(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(r) = v.get_mut("report").and_then(|r| r.as_object_mut()) {
                r.remove("seconds");
                r.remove("meta_seconds");
            }
            v
        })
        .collect()
}

#[test]
fn sigkill_at_any_moment_then_resume_ends_bit_identical() {
    let d = dir("runs");
    let config = d.join("run.toml");
    // The digits run with a MELTR head and meta steps, over 8 short epochs.
    std::fs::write(&config, "preset = \"digits-tiny\"\nepochs = 8\n").unwrap();
    let full = d.join("full");
    let started = Instant::now();
    finish(train(&config, &full, false));
    let whole = started.elapsed();
    let reference = final_state(&full);
    let reference_log = log_without_times(&full);

    let mut seen_epochs = vec![];
    let resume_and_compare = |out: &Path, what: &str| {
        finish(train(&config, out, true));
        assert!(
            final_state(out) == reference,
            "{what}: the resumed run differs"
        );
        assert_eq!(
            log_without_times(out),
            reference_log,
            "{what}: the log differs"
        );
        every_file_loads(out);
    };
    // Kills spread evenly over an uninterrupted run's duration.
    for i in 0..KILLS {
        let out = d.join(format!("kill-{i}"));
        let mut child = train(&config, &out, false);
        std::thread::sleep(whole.mul_f64((i as f64 + 0.5) / KILLS as f64));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        std::fs::create_dir_all(&out).unwrap();
        seen_epochs.push(every_file_loads(&out));
        resume_and_compare(&out, &format!("kill {i}"));
    }
    // And one in the middle of a checkpoint write: kill as soon as the
    // temporary file appears (retried until the kill lands before the rename).
    let mut mid_write = false;
    for attempt in 0..20 {
        let out = d.join(format!("mid-write-{attempt}"));
        let mut child = train(&config, &out, false);
        let deadline = Instant::now() + whole * 4;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            let writing = std::fs::read_dir(&out).ok().is_some_and(|mut r| {
                r.any(|e| {
                    let p = e.unwrap().path();
                    meltr::atomic::is_temporary(&p)
                        && p.to_str().unwrap().contains("checkpoint.safetensors")
                })
            });
            if writing {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        child.wait().unwrap();
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| meltr::atomic::is_temporary(&e.as_ref().unwrap().path()))
            .collect();
        every_file_loads(&out);
        if !left.is_empty() {
            println!("killed mid-write on attempt {}", attempt + 1);
            mid_write = true;
            resume_and_compare(&out, "kill mid-write");
            assert!(
                std::fs::read_dir(&out)
                    .unwrap()
                    .all(|e| !meltr::atomic::is_temporary(&e.unwrap().path())),
                "the resumed run removes the interrupted write's temporary"
            );
            break;
        }
    }
    assert!(
        mid_write,
        "no kill landed during a checkpoint write in 20 tries"
    );
    println!("epochs checkpointed at the {KILLS} timed kills: {seen_epochs:?}");
    // The kills hit several epochs, before the first checkpoint included.
    let distinct: std::collections::BTreeSet<_> = seen_epochs.iter().collect();
    assert!(
        distinct.len() >= 4 && seen_epochs.contains(&None),
        "checkpointed epochs at the kills: {seen_epochs:?}"
    );
}
