//! A run's record on rank 0: `log.jsonl`, one JSON line per event (one
//! `write` each; SIGKILL can still cut a write at a page boundary, so a
//! killed run's log may end with part of a line, which readers skip and a
//! resumed run cuts off), the same numbers in
//! a TensorBoard event file with `tensorboard = true`, and `summary.json`
//! at the end. A resumed run's log is cut back to its length at the
//! checkpoint, so the interrupted epoch's lines are not repeated.

use super::checkpoint::RunPosition;
use super::observer::{Observer, StepAt};
use super::step::StepOutcome;
use super::tally::WeightHealth;
use super::tensorboard::EventWriter;
use super::trainer::{EpochReport, RunSummary, Trainer};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::hypergrad::MetaOutcome;
use crate::meta_loss::SumFit;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The log of a run writing into a folder.
pub struct RunLog {
    out: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    events: Option<EventWriter>,
}

impl RunLog {
    /// The log of `run` in `out` (created), after the `run` line of a fresh run.
    pub fn open(out: &Path, run: &Trainer) -> Result<RunLog> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        remove_stale_temporaries(out)?;
        let (config, position) = (run.config(), run.position());
        let path = out.join("log.jsonl");
        let file = open_log(&path, position)?;
        let events = match config.tensorboard {
            true => Some(EventWriter::open(out, &config.task_names(), position.step)?),
            false => None,
        };
        let mut log = RunLog {
            out: out.into(),
            path,
            file,
            events,
        };
        if position.step == 0 {
            let comm = run.communicator();
            log.write(
                json!({"kind": "run", "tasks": config.task_names(), "primary": config.primary,
                    "ranks": comm.size(), "transport": comm.name()}),
            )?;
        }
        Ok(log)
    }

    /// One line, and its numbers to the TensorBoard file.
    fn write(&mut self, v: serde_json::Value) -> Result<()> {
        if let Some(events) = self.events.as_mut() {
            events.record(&v)?;
        }
        self.file
            .write_all(format!("{v}\n").as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

impl Observer for RunLog {
    fn warm_start(&mut self, fit: &(SumFit, SumFit)) -> Result<()> {
        self.write(json!({"kind": "warm_start", "before": fit.0, "after": fit.1}))
    }

    fn step(&mut self, at: &StepAt, done: &StepOutcome) -> Result<()> {
        self.write(json!({"kind": "step", "epoch": at.epoch, "step": at.step,
            "losses": done.losses, "weights": done.weights, "value": done.value}))
    }

    fn skip(&mut self, at: &StepAt) -> Result<()> {
        self.write(json!({"kind": "skip", "epoch": at.epoch, "step": at.step}))
    }

    fn meta_step(&mut self, at: &StepAt, outcome: &MetaOutcome) -> Result<()> {
        match outcome {
            MetaOutcome::Updated {
                primary,
                alignment,
                grad_norm,
                ..
            } => self.write(json!({"kind": "meta", "step": at.step, "primary": primary,
                "alignment": alignment, "grad_norm": grad_norm})),
            _ => Ok(()),
        }
    }

    fn epoch(&mut self, report: &EpochReport, health: &WeightHealth, _: &Trainer) -> Result<()> {
        if health.alarmed() {
            let epoch = report.epoch;
            tracing::warn!(
                epoch,
                ?health,
                "the combinator's weights vanished or turned negative"
            );
            self.write(json!({"kind": "weight_health", "epoch": epoch, "health": health}))?;
        }
        self.write(json!({"kind": "epoch", "report": report}))
    }

    fn end(&mut self, summary: &RunSummary) -> Result<()> {
        let text = serde_json::to_string_pretty(summary).expect("summary serialises");
        write_atomic(&self.out.join("summary.json"), text.as_bytes())
    }
}

/// Opens the run's log for appending: a fresh run starts it empty; a
/// resumed one cuts it back to its length at the checkpoint.
fn open_log(path: &Path, position: &RunPosition) -> Result<std::fs::File> {
    let io = |e| Error::io(path, e);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let keep = match position.log_bytes {
        _ if position.step == 0 => Some(0),
        keep => keep,
    };
    if let Some(n) = keep {
        if file.metadata().map_err(io)?.len() > n {
            file.set_len(n).map_err(io)?;
        }
    }
    Ok(file)
}

/// Removes the temporary files an interrupted atomic write left in `dir`
/// (they never replaced the file they were meant for).
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if crate::atomic::is_temporary(&path) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
