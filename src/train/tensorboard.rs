//! TensorBoard event files beside a run's `log.jsonl`, so a run's curves
//! can be watched with `tensorboard --logdir runs/` (or any tool that reads
//! its event files).
//!
//! One file, `events.out.tfevents.<seconds>.<host>`, in TensorBoard's record
//! format: per record a little-endian `u64` length, its masked CRC-32C, the
//! protobuf `Event` and the data's masked CRC-32C. The messages are
//! TensorBoard's own (`tensorboard/compat/proto/event.proto`,
//! `summary.proto`), declared here with `prost` for the fields meltr
//! writes. Scalars per log record (tags built from the run's task names):
//!
//! | log record | step                 | tags |
//! |------------|----------------------|------|
//! | `step`     | its step             | `loss/<task>`, `weight/<task>` (∂f/∂l_k), `combined` |
//! | `meta`     | its step             | `meta/grad_norm`, `meta/primary_loss`, `meta/alignment/<task>` |
//! | `epoch`    | the epoch's last step | `epoch/seconds`, `epoch/meta_seconds`, `val/<metric>`, `test/<metric>` |
//!
//! Each record is one `write` to an unbuffered file, as `log.jsonl`'s lines
//! are: a crash loses at most the record being written (possibly leaving
//! part of it, which TensorBoard's reader stops at). A resumed run reads
//! the file back and cuts it after the last whole record at or before the
//! checkpoint's step, then appends: no step is written twice.

use crate::error::{Error, Result};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of an event file's name (TensorBoard finds files by it).
const PREFIX: &str = "events.out.tfevents.";

/// TensorBoard's `Event` (the fields meltr writes).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The training step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event carries.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event.what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The first event of a file: `"brain.Event:2"`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Scalars.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// TensorBoard's `Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// TensorBoard's `Summary.Value`, scalar case.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The curve's name.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The value (`simple_value`, one case of the `value` oneof).
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
}

/// CRC-32C as TensorBoard's record format stores it ("masked").
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One framed record.
fn frame(event: &Event) -> Vec<u8> {
    let data = prost::Message::encode_to_vec(event);
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&masked_crc(&data).to_le_bytes());
    out
}

/// The whole records at the start of `bytes`: `(end offset, event)` each;
/// reading stops at the first torn or corrupt one.
pub fn read_records(bytes: &[u8]) -> Vec<(usize, Event)> {
    let mut out = vec![];
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 12) {
        let (len, crc) = head.split_at(8);
        if masked_crc(len).to_le_bytes() != crc {
            break;
        }
        let n = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(n)
            .ok()
            .and_then(|n| (at + 12).checked_add(n))
        else {
            break;
        };
        let (Some(data), Some(crc)) = (bytes.get(at + 12..end), bytes.get(end..end + 4)) else {
            break;
        };
        if masked_crc(data).to_le_bytes() != crc {
            break;
        }
        let Ok(event) = <Event as prost::Message>::decode(data) else {
            break;
        };
        at = end + 4;
        out.push((at, event));
    }
    out
}

/// The event file of a run folder.
pub struct EventWriter {
    path: PathBuf,
    file: std::fs::File,
    tasks: Vec<String>,
    /// The step of the latest step or meta record (an epoch record belongs
    /// to it).
    step: u64,
}

impl EventWriter {
    /// Opens the run's event file: a fresh run (`step == 0`) starts a new
    /// one (removing event files of an earlier run in `dir`); a resumed run
    /// continues its file, cut back to the records at or before `step`.
    pub fn open(dir: &Path, tasks: &[String], step: u64) -> Result<EventWriter> {
        let existing = event_files(dir)?;
        let io = |p: &Path, e| Error::io(p, e);
        let resume = match existing.last() {
            Some(p) if step > 0 => Some(p.clone()),
            _ => None,
        };
        let mut w = match resume {
            Some(path) => {
                let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
                let keep = read_records(&bytes)
                    .into_iter()
                    .take_while(|(_, e)| e.step >= 0 && e.step as u64 <= step)
                    .last()
                    .map_or(0, |(end, _)| end);
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                file.set_len(keep as u64).map_err(|e| io(&path, e))?;
                EventWriter {
                    path,
                    file,
                    tasks: tasks.to_vec(),
                    step,
                }
            }
            None => {
                for p in &existing {
                    std::fs::remove_file(p).map_err(|e| io(p, e))?;
                }
                let path = dir.join(format!("{PREFIX}{}.{}", unix_seconds() as u64, host()));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                EventWriter {
                    path,
                    file,
                    tasks: tasks.to_vec(),
                    step,
                }
            }
        };
        if w.file.metadata().map_err(|e| io(&w.path, e))?.len() == 0 {
            w.write(0, What::FileVersion("brain.Event:2".into()))?;
        }
        Ok(w)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: u64, what: What) -> Result<()> {
        let e = Event {
            wall_time: unix_seconds(),
            step: step as i64,
            what: Some(what),
        };
        self.file
            .write_all(&frame(&e))
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Writes the scalars of one `log.jsonl` record (see the module table;
    /// other kinds write nothing).
    pub fn record(&mut self, v: &Value) -> Result<()> {
        let (step, scalars) = self.scalars(v);
        if scalars.is_empty() {
            return Ok(());
        }
        let value = scalars
            .into_iter()
            .map(|(tag, x)| SummaryValue {
                tag,
                simple_value: Some(x),
            })
            .collect();
        self.write(step, What::Summary(Summary { value }))
    }

    /// The step and `(tag, value)` pairs of a log record.
    fn scalars(&mut self, v: &Value) -> (u64, Vec<(String, f32)>) {
        let num = |v: &Value| v.as_f64().map(|x| x as f32);
        let mut out = vec![];
        let per_task = |prefix: &str, list: &Value, out: &mut Vec<(String, f32)>| {
            for (name, x) in self.tasks.iter().zip(list.as_array().into_iter().flatten()) {
                if let Some(x) = num(x) {
                    out.push((format!("{prefix}/{name}"), x));
                }
            }
        };
        match v.get("kind").and_then(Value::as_str) {
            Some("step") => {
                per_task("loss", &v["losses"], &mut out);
                per_task("weight", &v["weights"], &mut out);
                out.extend(num(&v["value"]).map(|x| ("combined".to_string(), x)));
            }
            Some("meta") => {
                out.extend(num(&v["grad_norm"]).map(|x| ("meta/grad_norm".to_string(), x)));
                out.extend(num(&v["primary"]).map(|x| ("meta/primary_loss".to_string(), x)));
                per_task("meta/alignment", &v["alignment"], &mut out);
            }
            Some("epoch") => {
                let r = &v["report"];
                for key in ["seconds", "meta_seconds"] {
                    out.extend(num(&r[key]).map(|x| (format!("epoch/{key}"), x)));
                }
                for split in ["val", "test"] {
                    leaves(split, &r[split], &mut out);
                }
            }
            _ => {}
        }
        if let Some(s) = v.get("step").and_then(Value::as_u64) {
            self.step = s;
        }
        (self.step, out)
    }
}

/// The numbers in a metrics object, tagged `<split>/<name>` (the metric's
/// kind, a string, is left out).
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, f32)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::Number(n) => {
                        out.extend(n.as_f64().map(|n| (format!("{prefix}/{k}"), n as f32)))
                    }
                    _ => leaves(prefix, x, out),
                }
            }
        }
        _ => {}
    }
}

/// The event files in `dir`, by name.
fn event_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_events = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX));
        if is_events && path.is_file() {
            v.push(path);
        }
    }
    v.sort();
    Ok(v)
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The machine's name for the file name (TensorBoard's convention), or
/// `localhost`.
fn host() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h: String = h
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    if h.is_empty() {
        "localhost".into()
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masked_crc_matches_tensorflow() {
        // CRC-32C of "123456789" is 0xe3069283 (RFC 3720 check value);
        // masked = rotr(c, 15) + 0xa282ead8.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn records_read_back_and_a_torn_tail_is_dropped() {
        let dir = std::env::temp_dir().join(format!("meltr-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tasks = vec!["a".to_string(), "b".to_string()];
        let mut w = EventWriter::open(&dir, &tasks, 0).unwrap();
        for s in 1..=4u64 {
            w.record(
                &json!({"kind": "step", "step": s, "losses": [1.0, s as f32],
                "weights": [0.5, 0.25], "value": 2.0}),
            )
            .unwrap();
        }
        w.record(
            &json!({"kind": "epoch", "report": {"seconds": 1.5, "meta_seconds": 0.5,
            "val": {"metric": "retrieval", "r1": 10.0}}}),
        )
        .unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        let recs = read_records(&bytes);
        assert_eq!(recs.len(), 6);
        assert_eq!(recs.last().unwrap().0, bytes.len());
        let Some(What::Summary(s)) = &recs[5].1.what else {
            panic!()
        };
        assert_eq!(recs[5].1.step, 4);
        let tags: Vec<_> = s.value.iter().map(|v| v.tag.as_str()).collect();
        assert_eq!(tags, ["epoch/seconds", "epoch/meta_seconds", "val/r1"]);
        // a torn last record is not read
        assert_eq!(read_records(&bytes[..bytes.len() - 3]).len(), 5);
        // resuming at step 2 keeps the version record and steps 1, 2
        let w = EventWriter::open(&dir, &tasks, 2).unwrap();
        assert_eq!(w.path(), path);
        drop(w);
        let recs = read_records(&std::fs::read(&path).unwrap());
        let steps: Vec<i64> = recs.iter().map(|r| r.1.step).collect();
        assert_eq!(steps, [0, 1, 2]);
        // a fresh run replaces the file
        let w = EventWriter::open(&dir, &tasks, 0).unwrap();
        drop(w);
        assert_eq!(event_files(&dir).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
