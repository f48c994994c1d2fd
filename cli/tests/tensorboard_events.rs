//! `meltr train` with `tensorboard = true`: the event file beside
//! `log.jsonl` reads back with TensorBoard's own reader (`EventAccumulator`,
//! `pip install tensorboard`): every tag is there, steps increase, values
//! equal the log's. A run killed mid-epoch and resumed continues the same
//! file with no step written twice. Skips with a message where Python's
//! `tensorboard` is missing, except under CI (`CI=true`), where that fails.

use crate::common::{finish, train};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-tb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reads the run folder with TensorBoard's reader and checks it against
/// `log.jsonl`; prints a summary line.
const CHECK: &str = r#"
import json, sys, glob, math
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
run = sys.argv[1]
files = glob.glob(run + "/events.out.tfevents.*")
assert len(files) == 1, files
# every record of the file, in order: steps never go back, none repeats
steps = {}
for e in EventFileLoader(files[0]).Load():
    for v in e.summary.value:
        prev = steps.setdefault(v.tag, [])
        assert not prev or e.step > prev[-1], (v.tag, prev[-1], e.step)
        prev.append(e.step)
acc = EventAccumulator(run, size_guidance={"scalars": 0})
acc.Reload()
tags = set(acc.Tags()["scalars"])
log = [json.loads(l) for l in open(run + "/log.jsonl")]
names = log[0]["tasks"]
want = {}
def put(tag, step, value):
    want.setdefault(tag, []).append((step, value))
last = 0
for r in log:
    if r["kind"] == "step":
        last = r["step"]
        for k, n in enumerate(names):
            put("loss/" + n, r["step"], r["losses"][k])
            put("weight/" + n, r["step"], r["weights"][k])
        put("combined", r["step"], r["value"])
    elif r["kind"] == "meta":
        last = r["step"]
        put("meta/grad_norm", r["step"], r["grad_norm"])
        put("meta/primary_loss", r["step"], r["primary"])
        for k, n in enumerate(names):
            put("meta/alignment/" + n, r["step"], r["alignment"][k])
    elif r["kind"] == "epoch":
        rep = r["report"]
        put("epoch/seconds", last, rep["seconds"])
        put("epoch/meta_seconds", last, rep["meta_seconds"])
        for split in ("val", "test"):
            if split in rep:
                for key, x in rep[split].items():
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        put(split + "/" + key, last, x)
assert tags == set(want), ("tags", sorted(tags ^ set(want)))
n = 0
for tag, pts in want.items():
    got = [(s.step, s.value) for s in acc.Scalars(tag)]
    assert [s for s, _ in got] == [s for s, _ in pts], (tag, got[:3], pts[:3])
    for (s, a), (_, b) in zip(got, pts):
        # stored as f32: equal to the log's number rounded to f32
        assert a == b or abs(a - b) <= 1e-6 * max(abs(b), 1e-30), (tag, s, a, b)
        n += 1
print("tensorboard read %d tags, %d scalars, %d steps" % (len(tags), n, len(steps.get("combined", []))))
"#;

fn tensorboard_check(run: &Path) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import tensorboard"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but python3 cannot import tensorboard: .ci/run installs it"
        );
        eprintln!("SKIPPED: python3 -c 'import tensorboard' failed (pip install tensorboard) — the event file was not read back");
        return None;
    }
    let o = Command::new("python3")
        .args(["-c", CHECK])
        .arg(run)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8(o.stdout).unwrap())
}

#[test]
fn event_files_read_back_with_tensorboard_and_survive_a_kill() {
    let d = dir("runs");
    let config = d.join("run.toml");
    // the digits run with a MELTR head and meta steps; evaluated every epoch
    std::fs::write(
        &config,
        "preset = \"digits-tiny\"\nepochs = 4\ntensorboard = true\n",
    )
    .unwrap();
    let full = d.join("full");
    let t = Instant::now();
    finish(train(&config, &full, false));
    let whole = t.elapsed();
    let Some(summary) = tensorboard_check(&full) else {
        return;
    };
    eprintln!("uninterrupted run: {summary}");
    // killed after its first checkpoint, within an epoch, then resumed
    let out = d.join("killed");
    let mut child = train(&config, &out, false);
    let deadline = Instant::now() + whole * 4;
    while !out.join("checkpoint.safetensors").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(whole / 8);
    let _ = child.kill();
    child.wait().unwrap();
    assert!(
        !out.join("summary.json").exists(),
        "the kill landed before the end"
    );
    // the records the resumed run must drop: those after the checkpoint's step
    let step = meltr::train::Checkpoint::load(&out.join("checkpoint.safetensors"))
        .unwrap()
        .position
        .step;
    let file = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("events.out.tfevents."))
        .unwrap();
    let past = meltr::train::tensorboard::read_records(&std::fs::read(&file).unwrap())
        .iter()
        .filter(|(_, e)| e.step as u64 > step)
        .count();
    eprintln!("killed after step {step} with {past} records past it in the event file");
    finish(train(&config, &out, true));
    let resumed = tensorboard_check(&out).unwrap();
    eprintln!("killed and resumed: {resumed}");
    let steps = |s: &str| s.split(", ").last().unwrap().to_string();
    assert_eq!(
        steps(&resumed),
        steps(&summary),
        "the same steps, once each"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
