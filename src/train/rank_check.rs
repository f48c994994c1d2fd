//! The rank-agreement check of a data-parallel run, after every epoch:
//! every rank must hold the same parameters.

use super::observer::Observer;
use super::tally::WeightHealth;
use super::trainer::{EpochReport, Trainer};
use crate::error::{Error, Result};

/// Compares rank 0's checksum of the backbone and the head on every rank;
/// a mismatch anywhere stops every rank with the same error.
pub struct RankCheck;

impl Observer for RankCheck {
    fn epoch(&mut self, report: &EpochReport, _: &WeightHealth, run: &Trainer) -> Result<()> {
        let comm = run.communicator();
        if comm.size() == 1 {
            return Ok(());
        }
        let bytes = |v: Vec<f32>| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let sum = crate::checksum::crc32(&[
            bytes(run.model().params().to_vec()),
            bytes(run.head().params().to_vec()),
        ]);
        // Two 16-bit halves: exact in f32.
        let mine = [(sum >> 16) as f32, (sum & 0xffff) as f32];
        let mut root = mine;
        comm.broadcast(&mut root, 0)?;
        let mut differ = [f32::from(u8::from(root != mine))];
        comm.all_reduce_sum(&mut differ)?;
        if differ[0] > 0.0 {
            return Err(Error::InvalidSetting {
                field: "data-parallel run".into(),
                value: format!("epoch {}", report.epoch + 1),
                reason: format!(
                    "the parameters of {} of {} ranks differ from rank 0's; stopped",
                    differ[0],
                    comm.size()
                ),
            });
        }
        Ok(())
    }
}
