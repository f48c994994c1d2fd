//! Corrupted and mismatched files: truncated, bit-flipped, wrong-shape and
//! wrong-kind inputs to every command that reads one end with exit code 2
//! and a one-line error naming the file and what is wrong, and change no
//! file. `cargo test -p meltr-cli --test cli corrupted_files -- --nocapture`
//! prints each case's error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn meltr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meltr"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(snapshot(&p));
        } else {
            files.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    files
}

/// A finished one-epoch digits run (checkpoint, backbone, head, log) and
/// the head exported to an artifact.
fn fixture(d: &Path) -> PathBuf {
    let run = d.join("run");
    let config = d.join("run.toml");
    std::fs::write(&config, "preset = \"digits-tiny\"\nepochs = 1\n").unwrap();
    let o = meltr(&["train", "--quiet", "--config", s(&config), "--out", s(&run)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = meltr(&[
        "export",
        "--weights",
        s(&run.join("head.safetensors")),
        "--out",
        s(&d.join("head.wasm")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run
}

/// The safetensors header of `bytes` as JSON, and the data after it.
fn header(bytes: &[u8]) -> (serde_json::Value, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        &bytes[8 + n..],
    )
}

fn with_header(h: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(h).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    out
}

/// Flips one bit in the middle of the tensor data.
fn flip_data_bit(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.len() - header(bytes).1.len();
    let mut out = bytes.to_vec();
    out[start + (bytes.len() - start) / 2] ^= 0x04;
    out
}

/// Swaps the two dimensions of the first non-square 2-D tensor: the same
/// bytes under a wrong shape.
fn transpose_a_shape(bytes: &[u8]) -> Vec<u8> {
    let (mut h, data) = header(bytes);
    let (_, t) = h
        .as_object_mut()
        .unwrap()
        .iter_mut()
        .find(|(n, t)| {
            *n != "__metadata__" && {
                let s = t["shape"].as_array().unwrap();
                s.len() == 2 && s[0] != s[1]
            }
        })
        .expect("a non-square matrix");
    let s = t["shape"].as_array_mut().unwrap();
    s.swap(0, 1);
    with_header(&h, data)
}

#[test]
fn corrupted_and_mismatched_files_are_refused_in_one_line_and_change_nothing() {
    let d = std::env::temp_dir().join(format!("meltr-corrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let run = fixture(&d);
    let read = |name: &str| std::fs::read(run.join(name)).unwrap();
    let (checkpoint, backbone, head) = (
        read("checkpoint.safetensors"),
        read("backbone.safetensors"),
        read("head.safetensors"),
    );
    let artifact = std::fs::read(d.join("head.wasm")).unwrap();
    let mut other_interface = artifact.clone();
    let at = artifact
        .windows(12)
        .position(|w| w == b"meltr-head/1")
        .unwrap();
    other_interface[at + 11] = b'7';

    // (case, file name, bytes, which command reads it, what the error says)
    let half = |b: &[u8]| b[..b.len() / 2].to_vec();
    let cases: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        (
            "truncated checkpoint",
            "checkpoint.safetensors",
            half(&checkpoint),
            "resume",
            "truncated, or not a safetensors file",
        ),
        (
            "bit-flipped checkpoint",
            "checkpoint.safetensors",
            flip_data_bit(&checkpoint),
            "resume",
            "checksum mismatch",
        ),
        (
            "a head as checkpoint",
            "checkpoint.safetensors",
            head.clone(),
            "resume",
            "meltr-head/1",
        ),
        (
            "truncated backbone",
            "b.safetensors",
            half(&backbone),
            "eval",
            "truncated, or not a safetensors file",
        ),
        (
            "bit-flipped backbone",
            "b.safetensors",
            flip_data_bit(&backbone),
            "eval",
            "checksum mismatch",
        ),
        (
            "wrong-shape backbone",
            "b.safetensors",
            transpose_a_shape(&backbone),
            "eval",
            "shape",
        ),
        (
            "a head as backbone",
            "b.safetensors",
            head.clone(),
            "eval",
            "is this a head file",
        ),
        (
            "a checkpoint as backbone",
            "b.safetensors",
            checkpoint.clone(),
            "train --backbone",
            "meltr-train/3",
        ),
        (
            "truncated head",
            "h.safetensors",
            half(&head),
            "inspect",
            "truncated, or not a safetensors file",
        ),
        (
            "bit-flipped head",
            "h.safetensors",
            flip_data_bit(&head),
            "inspect",
            "checksum mismatch",
        ),
        (
            "wrong-shape head",
            "h.safetensors",
            transpose_a_shape(&head),
            "inspect",
            "shape",
        ),
        (
            "a backbone as head",
            "h.safetensors",
            backbone.clone(),
            "export",
            "is this a backbone file",
        ),
        (
            "truncated artifact",
            "a.wasm",
            half(&artifact),
            "view",
            "a.wasm",
        ),
        (
            "artifact of another interface",
            "a.wasm",
            other_interface,
            "view",
            "meltr-head/7",
        ),
        (
            "a head file as artifact",
            "a.wasm",
            head.clone(),
            "view",
            "not a WebAssembly file",
        ),
    ];
    for (case, name, bytes, command, says) in cases {
        // Each case in a copy of the finished run, so that a command which
        // wrongly wrote anything is caught.
        let dir = d.join(case.replace(' ', "-"));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        for f in [
            "checkpoint.safetensors",
            "backbone.safetensors",
            "head.safetensors",
            "log.jsonl",
        ] {
            std::fs::copy(run.join(f), dir.join("run").join(f)).unwrap();
        }
        let target = if name == "checkpoint.safetensors" {
            dir.join("run").join(name)
        } else {
            dir.join(name)
        };
        std::fs::write(&target, &bytes).unwrap();
        let config = d.join("run.toml");
        let out = dir.join("run");
        let report = dir.join("report");
        let wasm = dir.join("out.wasm");
        let args: Vec<&str> = match command {
            "resume" => vec![
                "train",
                "--quiet",
                "--resume",
                "--config",
                s(&config),
                "--out",
                s(&out),
            ],
            "eval" => vec!["eval", "--checkpoint", s(&target)],
            "train --backbone" => vec![
                "train",
                "--quiet",
                "--config",
                s(&config),
                "--backbone",
                s(&target),
                "--out",
                s(&out),
            ],
            "inspect" => vec![
                "head",
                "inspect",
                "--weights",
                s(&target),
                "--losses",
                "1,1,1",
            ],
            "export" => vec!["export", "--weights", s(&target), "--out", s(&wasm)],
            "view" => vec!["view", s(&target), "--out", s(&report)],
            other => unreachable!("{other}"),
        };
        let before = snapshot(&dir);
        let o = meltr(&args);
        let err = String::from_utf8_lossy(&o.stderr).trim_end().to_string();
        println!("{case} ({}): {err}", args[..2].join(" "));
        assert_eq!(o.status.code(), Some(2), "{case}: {err}");
        assert!(!err.contains('\n'), "{case}: not one line: {err}");
        assert!(
            err.contains(s(&target)),
            "{case}: the file is not named: {err}"
        );
        assert!(err.contains(says), "{case}: expected `{says}` in: {err}");
        assert!(
            snapshot(&dir) == before,
            "{case}: a file was written or changed"
        );
    }
}
